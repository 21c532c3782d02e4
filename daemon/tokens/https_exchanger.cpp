#include "daemon/tokens/https_exchanger.hpp"

#include "daemon/upstream/url.hpp"

namespace actoken::tokens {

https_exchanger::https_exchanger(std::shared_ptr<upstream::auth_client> client,
                                 const clock_source& clock, seconds timeout,
                                 seconds default_token_ttl)
    : client_(std::move(client)),
      clock_(clock),
      timeout_(timeout),
      default_token_ttl_(default_token_ttl) {}

net::awaitable<upstream::exchange_result> https_exchanger::exchange(
    std::shared_ptr<const org_settings> org, upstream::api_version version, std::string sub_org) {
  // Parsed when the organization was loaded; held alive across the suspension.
  const auto server = org->server;
  if (!server) {
    co_return failure{errc::upstream_unavailable,
                      "auth_url " + org->auth_url + " is not a usable URL"};
  }
  // Keep the client and key alive across the suspension, whatever a reload does.
  const auto client = client_;
  const auto key = org->key;
  const auto body = upstream::build_form_body({version, key->view(), org->scope, sub_org});
  auto posted = co_await client->post_form(*server, std::string(upstream::token_path(version)),
                                           body, timeout_);
  if (auto* error = std::get_if<failure>(&posted)) {
    co_return std::move(*error);
  }
  auto& response = std::get<upstream::raw_response>(posted);
  auto result =
      upstream::interpret_response(response, clock_.wall_now(), default_token_ttl_, key->view());
  // The body may have echoed the key; now that the codec has searched it, it
  // is wiped rather than left in freed memory (SPEC §6 "Secrets").
  platform::secure_wipe(response.body.data(), response.body.size());
  co_return result;
}

}  // namespace actoken::tokens
