// The router with everything it talks to, and nothing else: a real token
// service on a manual clock, an exchanger that answers at once, a fixed set
// of peers and a daemon_control that changes keys in memory. Shared by the
// router's unit tests (tests/unit/test_router.cpp) and the HTTP fuzz target
// (tests/fuzz/fuzz_http_request.cpp), so both exercise one setup.
#pragma once

#include "daemon/api/access_policy.hpp"
#include "daemon/api/router.hpp"
#include "daemon/runtime/clock.hpp"
#include "daemon/tokens/token_service.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>

namespace actoken::testing {

namespace net = boost::asio;
using namespace std::chrono_literals;

inline constexpr uid_t router_daemon_uid = 999;
inline const std::string acme_sub_guid = "9b2f6d1e-0000-4000-8000-000000000001";
// Distinctive enough that no answer contains them by chance.
inline const std::string acme_key = "QUNNRS1mdXp6LWtleS0wMDAx+/Zm9vYmFyYmF6cXV4==";
inline const std::string beta_key = "QkVUQS1mdXp6LWtleS0wMDAy+/cXV1eGNvcmdlZ3JhdWx0";
inline const std::string cached_jwt =
    "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NjcyMzI4MDAsImN1cnJlbnRPcmdhbml6YXRpb25JZCI6ImFjbWUifQ.c2ln";
inline const std::string exchanged_jwt =
    "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NjcyMzI4MDAsInN1YiI6ImV4Y2hhbmdlZCJ9.c2ln";

/// The peers: a stranger allowed nothing; "builder" (uid 1001, allowed for
/// acme by uid, and in the group developers, 2000, the top-level allow); an
/// admin by its group actoken-admin (2500); root.
inline const platform::peer_credentials stranger_peer{1002, 1002, {}};
inline const platform::peer_credentials builder_peer{1001, 1001, {1001, 2000}};
inline const platform::peer_credentials admin_peer{1003, 1003, {2500}};
inline const platform::peer_credentials root_peer{0, 0, {}};

/// Answers at once: a token for acme, "unavailable" (Retry-After 7 s) for
/// every other organization.
class instant_exchanger final : public tokens::exchanger {
 public:
  explicit instant_exchanger(const actoken::clock_source& clock) : clock_(clock) {}

  net::awaitable<upstream::exchange_result> exchange(std::shared_ptr<const org_settings> org,
                                                     upstream::api_version /*version*/,
                                                     std::string /*sub_org*/) override {
    ++calls;
    if (org->name == "acme") {
      const auto now = clock_.wall_now();
      co_return upstream::token_grant{exchanged_jwt, now, now + 1h, seconds{0}, std::nullopt};
    }
    co_return failure{errc::upstream_unavailable, "the auth server is unavailable (HTTP 503)",
                      seconds{7}};
  }

  int calls = 0;

 private:
  const actoken::clock_source& clock_;
};

/// What app.cpp does around the router, minus the files: key changes rebuild
/// the organization table and hand it to the token service.
class memory_control final : public api::daemon_control {
 public:
  explicit memory_control(tokens::token_service& service) : service_(service) {}

  std::variant<std::shared_ptr<const org_settings>, failure> key_trial(
      const std::string& org, const platform::shared_key& key,
      const std::optional<std::string>& auth_url,
      const std::optional<upstream::api_version>& api_version, bool persist) override {
    auto settings = with_key(org, key, auth_url, api_version, persist);
    if (auto* refused = std::get_if<failure>(&settings)) return std::move(*refused);
    return std::get<std::shared_ptr<org_settings>>(std::move(settings));
  }

  std::variant<key_stored, failure> put_key(const std::string& org, platform::secure_buffer key,
                                            std::optional<std::string> auth_url,
                                            std::optional<upstream::api_version> api_version,
                                            bool persist) override {
    auto settings = with_key(org, std::make_shared<const platform::secure_buffer>(std::move(key)),
                             auth_url, api_version, persist);
    if (auto* refused = std::get_if<failure>(&settings)) return std::move(*refused);
    replace(org, std::get<std::shared_ptr<org_settings>>(std::move(settings)));
    return key_stored{persist};
  }

  std::optional<failure> remove_key(const std::string& org) override {
    const auto existing = service_.find_org(org);
    if (!existing) return failure{errc::unknown_org, "no organization named " + org};
    if (existing->config_key_file) {
      return failure{errc::key_managed_by_config,
                     "the key of organization " + org + " is set in the config file"};
    }
    auto settings = std::make_shared<org_settings>(*existing);
    settings->key = nullptr;
    settings->source.reset();
    settings->key_problem = "no key file";
    replace(org, std::move(settings));
    return std::nullopt;
  }

  api::reload_info reload() override {
    ++reloads;
    return next_reload;
  }

  std::size_t connections() const override { return 3; }
  std::optional<api::cache_file_info> cache_file() const override { return cache; }

  /// What `/v1/status` shows as the cache file.
  std::optional<api::cache_file_info> cache;
  /// What the next `reload` answers, and how many were asked for.
  api::reload_info next_reload{wall_time{}, true, "reloaded"};
  int reloads = 0;

 private:
  // `org`'s settings with `key` as its key; refused for a config key_file.
  std::variant<std::shared_ptr<org_settings>, failure> with_key(
      const std::string& org, platform::shared_key key, const std::optional<std::string>& auth_url,
      const std::optional<upstream::api_version>& api_version, bool persist) const {
    const auto existing = service_.find_org(org);
    if (existing && existing->config_key_file) {
      return failure{errc::key_managed_by_config,
                     "the key of organization " + org + " is set in the config file"};
    }
    auto settings =
        existing ? std::make_shared<org_settings>(*existing) : std::make_shared<org_settings>();
    settings->name = org;
    settings->key = std::move(key);
    settings->source = persist ? key_source::key_dir : key_source::runtime;
    settings->key_problem.clear();
    if (auth_url) settings->auth_url = *auth_url;
    if (settings->auth_url.empty()) settings->auth_url = "https://auth.appcircle.io";
    if (api_version) settings->api_version = *api_version;
    return settings;
  }

  void replace(const std::string& org, std::shared_ptr<const org_settings> settings) {
    org_table table;
    for (const auto& name : service_.org_names()) table[name] = service_.find_org(name);
    table[org] = std::move(settings);
    service_.set_orgs(std::move(table));
  }

  tokens::token_service& service_;
};

/// acme (a key, allow: builder, sub-organization "mobile"), beta (a key from
/// the config's key_file, `auto`, the top-level allow), gamma (no usable key).
inline org_table router_test_orgs() {
  auto acme = std::make_shared<org_settings>();
  acme->name = "acme";
  acme->key = std::make_shared<const platform::secure_buffer>(acme_key);
  acme->source = key_source::key_dir;
  acme->auth_url = "https://auth.appcircle.example";
  acme->api_version = upstream::api_version::v3;
  acme->scope = "openid,profile,email";
  acme->allow = principal_set{{"builder"}, {1001}, {}, {}};  // as resolved at load
  acme->sub_organizations.add("mobile", {acme_sub_guid, std::nullopt});

  auto beta = std::make_shared<org_settings>();
  beta->name = "beta";
  beta->key = std::make_shared<const platform::secure_buffer>(beta_key);
  beta->source = key_source::config;
  beta->config_key_file = true;
  beta->auth_url = "https://auth.appcircle.io";
  beta->api_version = upstream::api_version::automatic;
  beta->scope = "";

  auto gamma = std::make_shared<org_settings>();
  gamma->name = "gamma";
  gamma->source = key_source::key_dir;
  gamma->key_problem = "key file /var/lib/actoken/keys/gamma.key is readable by others";
  gamma->auth_url = "https://auth.appcircle.io";

  return {{"acme", acme}, {"beta", beta}, {"gamma", gamma}};
}

/// The config file the router's messages name.
inline const std::string router_config_file = "/etc/actoken/actokend.json";

/// The names learnt at load: builder, root, developers and actoken-admin (the
/// stranger, uid 1002, has none).
inline name_book router_test_names() {
  return {{{0, "root"}, {1001, "builder"}},
          {{0, "root"}, {2000, "developers"}, {2500, "actoken-admin"}}};
}

/// A token as the cache file restores it, obtained a minute ago, for an hour.
inline tokens::cached_token restored_token(const actoken::clock_source& clock,
                                           const std::string& jwt) {
  const auto now = clock.wall_now();
  return {jwt, now - 60s, now + 1h, now + 50min, tokens::fingerprint(jwt), {}};
}

/// One router and its world; acme's root and "mobile" tokens are cached.
struct router_world {
  net::io_context io;
  manual_clock clock;
  std::shared_ptr<instant_exchanger> upstream = std::make_shared<instant_exchanger>(clock);
  tokens::token_service service{io.get_executor(), clock, tokens::service_options{}, upstream};
  memory_control control{service};
  wall_time started_at = clock.wall_now() - 1h;
  // admin: the group actoken-admin; allow: the group developers; as resolved at load.
  api::router router{
      service,
      control,
      clock,
      api::access_policy(router_daemon_uid, principal_set{{}, {}, {"actoken-admin"}, {2500}},
                         principal_set{{}, {}, {"developers"}, {2000}}, router_test_names()),
      {"acme", 60s, router_config_file},
      started_at};

  router_world() {
    service.set_orgs(router_test_orgs());
    service.restore("acme", "", restored_token(clock, cached_jwt));
    service.restore("acme", acme_sub_guid, restored_token(clock, cached_jwt));
  }
  router_world(const router_world&) = delete;
  router_world& operator=(const router_world&) = delete;
  ~router_world() { settle(); }

  /// Runs whatever is ready until nothing is; false when work is still left.
  bool settle() {
    for (int round = 0; round < 1000; ++round) {
      io.restart();
      if (io.poll() == 0) return true;
    }
    return false;
  }

  /// Finishes a request the router could not answer at once (a token, or a
  /// verified key), as the session does (the exchanger never waits); nullopt
  /// when it did not complete. Rethrows what the router threw.
  template <typename Pending>
  std::optional<api::api_response> finish(Pending pending) {
    std::optional<api::api_response> answer;
    std::exception_ptr thrown;
    net::co_spawn(io, router.finish(std::move(pending)),
                  [&answer, &thrown](std::exception_ptr error, api::api_response response) {
                    thrown = error;
                    if (!error) answer = std::move(response);
                  });
    settle();
    if (thrown) std::rethrow_exception(thrown);
    return answer;
  }

  /// The answer to one request from `peer`, through one `handle` and at most
  /// one `finish`; nullopt when a `finish` did not complete.
  std::optional<api::api_response> answer(std::string_view method, std::string_view target,
                                          const platform::peer_credentials& peer,
                                          std::string_view body = {}) {
    auto routed = router.handle({method, target, body, peer});
    if (auto* response = std::get_if<api::api_response>(&routed)) return std::move(*response);
    if (auto* token = std::get_if<api::pending_token>(&routed)) return finish(std::move(*token));
    return finish(std::get<api::pending_key>(std::move(routed)));
  }
};

}  // namespace actoken::testing
