// Raw bytes from a socket peer -> Beast's request parser with the daemon's
// limits -> the router, as the HTTP session drives it (daemon/transport/
// http_server.cpp), with a real token service on a manual clock, a fixed user
// database and an exchanger that answers at once. Up to 16 pipelined requests
// per input, each answered for three peers (a stranger, an allowed user, root).
//
// Properties: nothing crashes or hangs; every answer has a status of SPEC §4;
// every JSON answer parses (strict, UTF-8) to an object, and an error answer
// is {"error": <a code of SPEC §4 whose status is the answer's>, "message"};
// no configured key ever appears in an answer unless the request carried it.
#include "daemon/api/access_policy.hpp"
#include "daemon/api/router.hpp"
#include "daemon/clock.hpp"
#include "daemon/tokens/token_service.hpp"
#include "daemon/transport/http_server.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace {

using namespace actoken;
using namespace std::chrono_literals;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr uid_t daemon_uid = 999;
constexpr std::size_t max_requests_per_input = 16;
const std::string sub_guid = "9b2f6d1e-0000-4000-8000-000000000001";
// Distinctive enough that no answer contains them by chance.
const std::string acme_key = "QUNNRS1mdXp6LWtleS0wMDAx+/Zm9vYmFyYmF6cXV4==";
const std::string beta_key = "QkVUQS1mdXp6LWtleS0wMDAy+/cXV1eGNvcmdlZ3JhdWx0";
const std::string cached_jwt =
    "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NjcyMzI4MDAsImN1cnJlbnRPcmdhbml6YXRpb25JZCI6ImFjbWUifQ.c2ln";
const std::string exchanged_jwt =
    "eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjE3NjcyMzI4MDAsInN1YiI6ImV4Y2hhbmdlZCJ9.c2ln";

// Answers at once: a token for acme, "unavailable" for everyone else.
class instant_exchanger final : public tokens::exchanger {
 public:
  explicit instant_exchanger(const actoken::clock& clock) : clock_(clock) {}

  net::awaitable<upstream::exchange_result> exchange(std::shared_ptr<const org_settings> org,
                                                     upstream::api_version /*version*/,
                                                     std::string /*sub_org*/) override {
    if (org->name == "acme") {
      const auto now = clock_.wall_now();
      co_return upstream::token_grant{exchanged_jwt, now, now + 1h, seconds{0}};
    }
    co_return failure{errc::upstream_unavailable, "the auth server is unavailable (HTTP 503)",
                      seconds{7}};
  }

 private:
  const actoken::clock& clock_;
};

// What app.cpp does around the router, minus the files: key changes rebuild
// the organization table and hand it to the token service (as a reload does).
class fuzz_control final : public api::daemon_control {
 public:
  fuzz_control(tokens::token_service& service, const actoken::clock& clock)
      : service_(service), started_(clock.wall_now() - 1h) {}

  std::variant<key_stored, failure> put_key(const std::string& org, platform::secure_buffer key,
                                            std::optional<std::string> auth_url,
                                            std::optional<upstream::api_version> api_version,
                                            bool persist) override {
    const auto existing = service_.find_org(org);
    if (existing && existing->config_key_file) {
      return failure{errc::key_managed_by_config,
                     "the key of organization " + org + " is set in the config file"};
    }
    auto settings =
        existing ? std::make_shared<org_settings>(*existing) : std::make_shared<org_settings>();
    settings->name = org;
    settings->key = std::make_shared<const platform::secure_buffer>(std::move(key));
    settings->source = persist ? key_source::key_dir : key_source::runtime;
    settings->key_problem.clear();
    if (auth_url) settings->auth_url = *auth_url;
    if (settings->auth_url.empty()) settings->auth_url = "https://auth.appcircle.io";
    if (api_version) settings->api_version = *api_version;
    auto table = current_table();
    table[org] = std::move(settings);
    service_.set_orgs(std::move(table));
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
    auto table = current_table();
    table[org] = std::move(settings);
    service_.set_orgs(std::move(table));
    return std::nullopt;
  }

  reload_info last_reload() const override { return {started_, true, "config loaded"}; }
  std::size_t connections() const override { return 3; }
  wall_time started_at() const override { return started_; }
  std::optional<std::string> default_org() const override { return "acme"; }
  std::chrono::seconds default_min_ttl() const override { return 60s; }

 private:
  org_table current_table() const {
    org_table table;
    for (const auto& name : service_.org_names()) table[name] = service_.find_org(name);
    return table;
  }

  tokens::token_service& service_;
  wall_time started_;
};

// uid 1001 "builder" (also in developers), 1002 "other", 1003 "ops-admin" (in
// actoken-admin); every other uid has no entry.
platform::user_identity resolve(uid_t uid, gid_t gid) {
  platform::user_identity who;
  who.groups.push_back(gid);
  if (uid == 1001) {
    who.name = "builder";
    who.groups.push_back(2000);
    who.group_names = {"builder", "developers"};
  } else if (uid == 1002) {
    who.name = "other";
    who.group_names = {"other"};
  } else if (uid == 1003) {
    who.name = "ops-admin";
    who.groups.push_back(2500);
    who.group_names = {"ops-admin", "actoken-admin"};
  }
  return who;
}

org_table initial_orgs() {
  auto acme = std::make_shared<org_settings>();
  acme->name = "acme";
  acme->key = std::make_shared<const platform::secure_buffer>(acme_key);
  acme->source = key_source::key_dir;
  acme->auth_url = "https://auth.appcircle.example";
  acme->api_version = upstream::api_version::v3;
  acme->scope = "openid,profile,email";
  acme->allow = principal_set{{"builder"}, {}, {}, {}};
  acme->sub_organizations = {{"mobile", sub_guid}};

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

tokens::cached_token cached(const actoken::clock& clock, const std::string& jwt) {
  const auto now = clock.wall_now();
  // json_members stays empty: restore() renders it, as it does for the cache file.
  return {jwt, now - 60s, now + 1h, now + 50min, tokens::fingerprint(jwt), {}};
}

// One daemon, fresh for every input so that a crash reproduces from its input alone.
struct world {
  net::io_context io;
  manual_clock clock;
  std::shared_ptr<instant_exchanger> upstream = std::make_shared<instant_exchanger>(clock);
  tokens::token_service service{io.get_executor(), clock, tokens::service_options{}, upstream};
  api::access_policy access{daemon_uid, principal_set{{}, {}, {"actoken-admin"}, {}},
                            principal_set{{}, {}, {"developers"}, {}}, resolve, clock};
  fuzz_control control{service, clock};
  api::router router{service, access, control, clock};

  world() {
    service.set_orgs(initial_orgs());
    service.restore("acme", "", cached(clock, cached_jwt));
    service.restore("acme", sub_guid, cached(clock, cached_jwt));
  }
  world(const world&) = delete;
  world& operator=(const world&) = delete;

  // Runs whatever is ready until nothing is; false when work is still left.
  bool settle() {
    for (int round = 0; round < 1000; ++round) {
      io.restart();
      if (io.poll() == 0) return true;
    }
    return false;
  }

  ~world() { settle(); }
};

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

void check_response(const api::api_response& response, std::string_view input) {
  switch (response.status) {
    case 200:
    case 400:
    case 403:
    case 404:
    case 405:
    case 409:
    case 413:
    case 502:
    case 503:
    case 504:
      break;
    default:
      ACTOKEN_FUZZ_CHECK(false, "a status outside SPEC §4");
  }
  ACTOKEN_FUZZ_CHECK(!response.retry_after || response.status == 503,
                     "Retry-After on an answer other than 503");
  ACTOKEN_FUZZ_CHECK(response.status != 503 || response.retry_after,
                     "a 503 answer without Retry-After");
  for (const auto* key : {&acme_key, &beta_key}) {
    ACTOKEN_FUZZ_CHECK(!contains(response.body, *key) || contains(input, *key),
                       "an answer carries a configured key");
  }
  if (response.content_type != "application/json") {
    ACTOKEN_FUZZ_CHECK(response.content_type.starts_with("text/plain"),
                       "neither JSON nor the Prometheus text format");
    ACTOKEN_FUZZ_CHECK(response.status == 200, "a non-JSON error answer");
    ACTOKEN_FUZZ_CHECK(!response.body.empty() && response.body.back() == '\n',
                       "metrics do not end with a newline");
    return;
  }
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  ACTOKEN_FUZZ_CHECK(!body.is_discarded(), "the answer is not valid JSON (or not UTF-8)");
  ACTOKEN_FUZZ_CHECK(body.is_object(), "the answer is not a JSON object");
  if (response.status == 200) return;
  const auto error = body.find("error");
  const auto message = body.find("message");
  ACTOKEN_FUZZ_CHECK(error != body.end() && error->is_string(), "an error answer without error");
  ACTOKEN_FUZZ_CHECK(message != body.end() && message->is_string() &&
                         !message->get_ref<const std::string&>().empty(),
                     "an error answer without a message");
  const auto code = errc_from_name(error->get_ref<const std::string&>());
  ACTOKEN_FUZZ_CHECK(code.has_value(), "an error code outside SPEC §4");
  ACTOKEN_FUZZ_CHECK(http_status(*code) == response.status, "an error code with the wrong status");
}

// Answers one parsed request as the session would: the fast path, else the
// coroutine, run until it completes (the exchanger never waits).
// The session would survive a throw (it closes the connection), but the peer
// would get no answer: a finding too.
api::api_response answer(world& w, const api::api_request& call) {
  try {
    if (auto fast = w.router.handle(call)) return std::move(*fast);
  } catch (const std::exception& e) {
    fuzz::fail(__FILE__, __LINE__, "router::handle threw", e.what());
  }
  std::optional<api::api_response> slow;
  std::exception_ptr thrown;
  net::co_spawn(w.io, w.router.handle_async(call),
                [&slow, &thrown](std::exception_ptr error, api::api_response response) {
                  if (error) {
                    thrown = error;
                  } else {
                    slow = std::move(response);
                  }
                });
  w.settle();
  if (thrown) {
    try {
      std::rethrow_exception(thrown);
    } catch (const std::exception& e) {
      fuzz::fail(__FILE__, __LINE__, "router::handle_async threw", e.what());
    }
  }
  ACTOKEN_FUZZ_CHECK(slow.has_value(), "handle_async did not complete with an instant exchanger");
  return std::move(*slow);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const transport::server_limits limits;
  const std::array<platform::peer_credentials, 3> peers{{{100, 1002, 1002},  // may use nothing
                                                         {101, 1001, 1001},  // allowed for acme
                                                         {102, 0, 0}}};      // root
  world w;
  std::string_view rest = input;
  for (std::size_t n = 0; n < max_requests_per_input && !rest.empty(); ++n) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_head));
    parser.body_limit(limits.max_body);
    parser.eager(true);
    beast::error_code ec;
    // The whole remaining input is offered at once; "need more" then means the
    // peer stopped sending, as when its socket closes.
    while (!parser.is_done()) {
      if (rest.empty()) {
        parser.put_eof(ec);
        break;
      }
      const auto used = parser.put(net::const_buffer(rest.data(), rest.size()), ec);
      rest.remove_prefix(used);
      if (ec == http::error::need_more) {
        ec = {};
        if (used == 0) {
          parser.put_eof(ec);
          break;
        }
        continue;
      }
      if (ec) break;
    }
    if (ec == http::error::header_limit || ec == http::error::body_limit ||
        ec == http::error::buffer_overflow) {
      check_response(api::router::error_response(
                         {errc::payload_too_large, "the request head or body is over the limit"}),
                     input);
      return 0;  // the session closes the connection
    }
    if (ec == http::error::end_of_stream) return 0;  // the peer closed between requests
    if (ec) {
      check_response(api::router::error_response(
                         {errc::bad_request, "malformed HTTP request: " + ec.message()}),
                     input);
      return 0;
    }
    ACTOKEN_FUZZ_CHECK(parser.is_done(), "the parser stopped without an error or a message");
    const auto& request = parser.get();
    for (const auto& peer : peers) {
      const api::api_request call{request.method_string(), request.target(), request.body(), peer};
      check_response(answer(w, call), input);
    }
    if (!request.keep_alive()) return 0;
    // Time passes between requests: refreshes fall due, the cached token expires.
    w.clock.advance(7min);
  }
  return 0;
}
