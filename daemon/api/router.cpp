#include "daemon/api/router.hpp"

#include "common/json_text.hpp"
#include "common/names.hpp"
#include "common/nearest_name.hpp"
#include "common/percent_encoding.hpp"
#include "common/version.hpp"
#include "daemon/api/key_request.hpp"
#include "daemon/outputs/audit_log.hpp"
#include "daemon/settings/config.hpp"

#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <vector>

namespace actoken::api {
namespace {

using json = nlohmann::json;
constexpr std::int64_t max_min_ttl = 86400;

api_response json_response(unsigned status, const json& body) {
  api_response response;
  response.status = status;
  response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return response;
}

// Splits "a=1&b=2" into decoded pairs; nullopt when malformed or repeated.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    // The socket API's queries are application/x-www-form-urlencoded: `+` is a space.
    auto name = form_decode(pair.substr(0, eq));
    auto value = form_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!name || !value || name->empty() ||
        !out.emplace(std::move(*name), std::move(*value)).second) {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

std::optional<bool> parse_flag(std::string_view text) {
  if (text == "1" || text == "true" || text.empty()) return true;
  if (text == "0" || text == "false") return false;
  return std::nullopt;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::int64_t seconds_left(wall_time until, wall_time now) {
  return std::max<std::int64_t>(0, std::chrono::floor<std::chrono::seconds>(until - now).count());
}

failure not_allowed(std::string_view method, std::string_view path) {
  return failure{errc::method_not_allowed,
                 std::string(method) + " is not allowed on " + std::string(path)};
}

// The Prometheus text format (version 0.0.4): families of samples, every
// name prefixed `actoken_`, label values escaped.
class prometheus_text {
 public:
  using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP actoken_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE actoken_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, labels label_set, std::string_view value) {
    out_ += "actoken_";
    out_ += name;
    if (label_set.size() != 0) {
      char separator = '{';
      for (const auto& [label, text] : label_set) {
        out_ += separator;
        out_ += label;
        out_ += '=';
        quote(text);
        separator = ',';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  std::string take() { return std::move(out_); }

 private:
  void quote(std::string_view text) {
    out_.push_back('"');
    for (char c : text) {
      if (c == '\n') {
        out_ += "\\n";
        continue;
      }
      if (c == '\\' || c == '"') out_.push_back('\\');
      out_.push_back(c);
    }
    out_.push_back('"');
  }

  std::string out_;
};

// A histogram bound as Prometheus writes it ("0.05", "1", "2.5").
std::string bound_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

void write_duration_histogram(prometheus_text& out, const tokens::service_stats& stats) {
  out.family("exchange_duration_seconds", "histogram", "Time of one exchange.");
  for (std::size_t i = 0; i < stats.duration_bucket_bounds.size(); ++i) {
    out.sample("exchange_duration_seconds_bucket",
               {{"le", bound_text(stats.duration_bucket_bounds[i])}},
               std::to_string(stats.duration_buckets[i]));
  }
  out.sample("exchange_duration_seconds_bucket", {{"le", "+Inf"}},
             std::to_string(stats.duration_count));
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", stats.duration_sum);
  out.sample("exchange_duration_seconds_sum", {}, sum);
  out.sample("exchange_duration_seconds_count", {}, std::to_string(stats.duration_count));
}

// Per organization: seconds left on each cached token, and its state as a
// Prometheus state set (one sample per state, 1 for the one it is in), so an
// alert can name an organization held in `error` or `rejected`.
void write_org_metrics(prometheus_text& out, const std::vector<tokens::org_view>& views,
                       wall_time now) {
  out.family("token_expires_in_seconds", "gauge", "Seconds left on each cached token.");
  for (const auto& view : views) {
    for (const auto& [sub, token] : view.tokens) {
      out.sample("token_expires_in_seconds", {{"org", view.settings->name}, {"sub_org", sub}},
                 std::to_string(
                     std::chrono::floor<std::chrono::seconds>(token->expires_at - now).count()));
    }
  }
  out.family("org_state", "gauge",
             "Each organization's state (as in /v1/orgs): 1 for the one it is in, 0 for the "
             "others.");
  for (const auto& view : views) {
    for (const std::string_view state : {"ok", "no_key", "rejected", "backoff", "error"}) {
      out.sample("org_state", {{"org", view.settings->name}, {"state", state}},
                 view.state == state ? "1" : "0");
    }
  }
}

json failure_json(const std::optional<tokens::failure_record>& record) {
  if (!record) return nullptr;
  json out{{"code", code_name(record->error.code)}, {"message", record->error.message}};
  out["at"] = record->at == wall_time{} ? json(nullptr) : json(rfc3339(record->at));
  return out;
}

// The alias a GUID is known by, else the GUID itself ("" → null).
json sub_org_label(const org_settings& org, const std::string& guid) {
  if (guid.empty()) return nullptr;
  const auto* alias = org.sub_organizations.alias_of(guid);
  return alias != nullptr ? *alias : guid;
}

json sinks_json(const std::vector<sink_info>& sinks) {
  json out = json::array();
  for (const auto& sink : sinks) {
    out.push_back(
        {{"path", sink.path},
         {"format", sink.format},
         {"state", sink.state},
         {"message", sink.message},
         {"written_at", sink.written_at ? json(rfc3339(*sink.written_at)) : json(nullptr)}});
  }
  return out;
}

json name_or_null(const std::optional<std::string>& name) {
  return name ? json(*name) : json(nullptr);
}

// How many groups `/v1/whoami` lists (SPEC §4): a process may carry 65,536,
// and an answer listing them all would cost every peer the time to build it.
constexpr std::size_t max_whoami_groups = 64;

// The groups `/v1/whoami` lists: first those that some rule names
// (`in_rules`, sorted), then the primary group, then the other supplementary
// groups in ascending order, each once, at most `max_whoami_groups`; names
// learnt at load or null. Costs the groups listed, not the groups carried.
json groups_json(const access_policy& access, const platform::peer_credentials& peer,
                 const std::vector<gid_t>& in_rules) {
  json groups = json::array();
  const auto listed = [&](gid_t id) {
    return std::binary_search(in_rules.begin(), in_rules.end(), id);
  };
  const auto add = [&](gid_t id) {
    groups.push_back({{"gid", id}, {"name", name_or_null(access.group_name(id))}});
  };
  for (const auto id : in_rules) {
    if (groups.size() == max_whoami_groups) return groups;
    add(id);
  }
  if (groups.size() < max_whoami_groups && !listed(peer.gid)) add(peer.gid);
  for (const auto id : peer.groups) {
    if (groups.size() == max_whoami_groups) break;
    if (id != peer.gid && !listed(id)) add(id);
  }
  return groups;
}

// How many groups the peer has: its primary group and its supplementary
// groups (sorted, each once), the primary counted once.
std::size_t groups_total(const platform::peer_credentials& peer) {
  const bool primary_among = std::binary_search(peer.groups.begin(), peer.groups.end(), peer.gid);
  return peer.groups.size() + (primary_among ? 0 : 1);
}

json sub_orgs_json(const std::vector<org_access::sub_org>& sub_orgs) {
  json out = json::array();
  for (const auto& sub : sub_orgs) {
    out.push_back({{"alias", name_or_null(sub.alias)}, {"id", sub.id}, {"via", sub.via}});
  }
  return out;
}

}  // namespace

/// A parsed `/v1/token` query.
struct router::token_query {
  tokens::token_request request;
  std::string sub_org_label;  // as asked: alias or GUID, "" for none
};

router::router(tokens::token_service& tokens, daemon_control& control, const clock_source& clock,
               access_policy access, router_settings settings, wall_time started_at)
    : tokens_(tokens),
      control_(control),
      clock_(clock),
      access_(std::move(access)),
      settings_(std::move(settings)),
      started_at_(started_at),
      last_reload_{started_at, true, "started"} {}

api_response router::error_response(const failure& failure) {
  api_response response;
  response.status = http_status(failure.code);
  response.body = R"({"error":)";
  append_json_string(response.body, code_name(failure.code));
  response.body += R"(,"message":)";
  append_json_string(response.body, failure.message);
  response.body += '}';
  // The token service sets `retry_after` only while it holds that exchange back
  // (a backoff, a rest after rejection, a rate limit): whatever the code, the
  // caller learns when the next try comes. A 503 always carries one (SPEC §4).
  if (failure.retry_after) {
    response.retry_after = failure.retry_after;
  } else if (carries_retry_after(failure.code)) {
    response.retry_after = std::chrono::seconds{1};
  }
  return response;
}

api_response router::count(std::string_view endpoint, api_response response) {
  ++requests_total_;
  ++request_counts_[{endpoint, response.status}];
  return response;
}

route_result router::handle(const api_request& request) {
  const auto question = request.target.find('?');
  const auto path = request.target.substr(0, question);
  const auto query =
      question == std::string_view::npos ? std::string_view() : request.target.substr(question + 1);
  if (path == "/v1/token") return get_token(request, query);
  std::string_view endpoint = "other";
  auto routed = answer(request, path, query, endpoint);
  if (auto* response = std::get_if<api_response>(&routed)) {
    return count(endpoint, std::move(*response));
  }
  return routed;
}

boost::asio::awaitable<api_response> router::finish(pending_token pending) {
  const auto outcome = co_await tokens_.wait(std::move(pending.exchange_));
  token_query token;
  token.request.org = std::move(pending.org_);
  token.sub_org_label = std::move(pending.sub_org_label_);
  if (const auto* refused = std::get_if<failure>(&outcome)) {
    audit_token(*pending.peer_, token, refused, nullptr);
    co_return count("token", error_response(*refused));
  }
  const auto& answer = std::get<tokens::token_answer>(outcome);
  audit_token(*pending.peer_, token, nullptr, &answer);
  co_return count("token", render_token(token.request.org, token.sub_org_label, answer));
}

boost::asio::awaitable<api_response> router::finish(pending_key pending) {
  auto tried = co_await tokens_.verify(pending.org_, pending.trial_);
  if (const auto* refused = std::get_if<failure>(&tried)) {
    audit(pending.peer_, "key_put", pending.org_, code_name(refused->code));
    co_return count("key", error_response(*refused));
  }
  auto& put = pending.put_;
  auto stored = control_.put_key(pending.org_, std::move(put.key), put.auth_url, put.api_version,
                                 put.persist);
  // The token the trial got is the organization's first, unless the key or
  // its settings changed meanwhile (then it is not cached: token_service).
  if (std::holds_alternative<daemon_control::key_stored>(stored)) {
    tokens_.adopt(pending.org_, *pending.trial_,
                  std::get<std::shared_ptr<const tokens::cached_token>>(std::move(tried)));
  }
  co_return count("key", key_answer(*pending.peer_, pending.org_, std::move(stored), true));
}

route_result router::get_token(const api_request& request, std::string_view query) {
  token_query token;
  auto refused = request.method == "GET" ? parse_token_query(request, query, token)
                                         : not_allowed(request.method, "/v1/token");
  if (!refused) {
    auto found = tokens_.lookup(token.request);
    if (auto* pending = std::get_if<tokens::pending_exchange>(&found)) {
      return pending_token{std::move(*pending), std::move(token.request.org),
                           std::move(token.sub_org_label), request.peer};
    }
    if (auto* failed = std::get_if<failure>(&found)) {
      refused = std::move(*failed);
    } else {
      const auto& answer = std::get<tokens::token_answer>(found);
      audit_token(request.peer, token, nullptr, &answer);
      return count("token", render_token(token.request.org, token.sub_org_label, answer));
    }
  }
  audit_token(request.peer, token, &*refused, nullptr);
  return count("token", error_response(*refused));
}

void router::audit(const platform::peer_credentials* peer, std::string_view action,
                   std::string_view org, std::string_view result, std::string_view sub_org,
                   const tokens::token_answer* answer) const {
  if (audit_ == nullptr || !audit_->enabled()) return;
  std::optional<std::string> user;
  if (peer != nullptr) user = access_.user_name(peer->uid);
  audit_record record;
  record.peer = peer;
  if (user) record.user = *user;
  record.action = action;
  // Only a valid name: what a caller typed may be anything, a pasted key included.
  if (is_valid_org_name(org)) record.org = org;
  record.sub_org = sub_org;
  record.result = result;
  if (answer != nullptr && answer->token) {
    record.source = answer->from_exchange ? "exchange" : "cache";
    record.token = answer->token->fingerprint;
  }
  audit_->record(record);
}

void router::audit_token(const platform::peer_credentials& peer, const token_query& token,
                         const failure* refused, const tokens::token_answer* answer) const {
  if (audit_ == nullptr || !audit_->enabled()) return;
  // The sub-organization as asked, when it is well-formed (an alias or a GUID).
  const auto& label = token.sub_org_label;
  const std::string_view sub_org =
      is_valid_org_name(label) || is_guid(label) ? std::string_view(label) : std::string_view();
  audit(&peer, "token", token.request.org, refused ? code_name(refused->code) : "ok", sub_org,
        answer);
}

api_response router::refuse(const api_request& request, std::string_view action,
                            std::string_view org, const failure& refused) const {
  audit(&request.peer, action, org, code_name(refused.code));
  return error_response(refused);
}

std::optional<failure> router::parse_token_query(const api_request& request, std::string_view query,
                                                 token_query& token) const {
  const auto params = parse_query(query);
  if (!params) return failure{errc::bad_request, "the query string is malformed"};
  token.request.min_ttl = settings_.min_ttl;
  for (const auto& [name, value] : *params) {
    if (name == "org") {
      token.request.org = value;
    } else if (name == "sub_org") {
      token.sub_org_label = value;
    } else if (name == "min_ttl") {
      const auto n = parse_int(value);
      if (!n || *n < 0 || *n > max_min_ttl) {
        return failure{errc::bad_request, "min_ttl must be a whole number from 0 to 86400"};
      }
      token.request.min_ttl = std::chrono::seconds{*n};
    } else if (name == "fresh") {
      const auto flag = parse_flag(value);
      if (!flag) return failure{errc::bad_request, "fresh must be 1 or 0"};
      token.request.fresh = *flag;
    } else {
      return failure{errc::bad_request, "unknown query parameter: " + name};
    }
  }
  return resolve_org(request, token);
}

// The organization asked for (or the default), whether the peer may use it,
// and the sub-organization's GUID.
std::optional<failure> router::resolve_org(const api_request& request, token_query& token) const {
  auto& org_name = token.request.org;
  if (org_name.empty()) {
    if (settings_.default_org) {
      org_name = *settings_.default_org;
    } else if (const auto names = tokens_.org_names(); names.size() == 1) {
      org_name = names.front();
    } else {
      return failure{errc::bad_request, "name an organization with org= (there is no default_org)"};
    }
  }
  if (!is_valid_org_name(org_name)) return failure{errc::bad_request, "invalid organization name"};
  const auto org = tokens_.find_org(org_name);
  if (!org) return failure{errc::unknown_org, "no organization named " + org_name};
  // The cache key: an alias and its GUID are one, with one allow (SPEC §3).
  const auto& label = token.sub_org_label;
  token_scope scope;
  if (label.empty()) {
    // The root token.
  } else if (const auto* listed = org->sub_organizations.by_alias(label)) {
    token.request.sub_org = listed->id;
    scope = {token.request.sub_org, listed};
  } else if (is_guid(label)) {
    token.request.sub_org = lower(label);
    scope = {token.request.sub_org, org->sub_organizations.by_id(token.request.sub_org)};
  } else if (!access_.may_see(request.peer, *org)) {
    // Told nothing about the organization's aliases.
    return failure{errc::forbidden, access_.use_refused(request.peer, *org, settings_.config_file)};
  } else {
    return unknown_alias(request.peer, *org, label);
  }
  if (!access_.may_use(request.peer, *org, scope)) {
    return failure{errc::forbidden,
                   access_.use_refused(request.peer, *org, scope, settings_.config_file)};
  }
  return std::nullopt;
}

failure router::unknown_alias(const platform::peer_credentials& peer, const org_settings& org,
                              const std::string& label) const {
  // Only a label an alias could be is repeated: one that is not may be a key.
  if (!is_valid_org_name(label)) {
    return failure{errc::bad_request,
                   "sub_org of organization " + org.name + " is neither an alias nor a GUID"};
  }
  // Only the aliases this peer may use are suggested: the others are not its business.
  std::vector<std::string> usable;
  for (const auto& [alias, sub] : org.sub_organizations.entries()) {
    if (access_.may_use(peer, org, token_scope{sub.id, &sub})) usable.push_back(alias);
  }
  auto message = "no sub-organization " + label + " in " + org.name;
  if (const auto nearest = nearest_name(label, usable)) {
    message += "; did you mean " + *nearest + "?";
  } else if (usable.empty()) {
    message += "; give a listed alias or a GUID";
  } else {
    constexpr std::size_t listed_at_most = 12;
    message += "; its aliases you may use: ";
    for (std::size_t i = 0; i < usable.size() && i < listed_at_most; ++i) {
      message += (i == 0 ? "" : ", ") + usable[i];
    }
    if (usable.size() > listed_at_most) message += ", ...";
  }
  return failure{errc::bad_request, std::move(message)};
}

api_response router::render_token(const std::string& org, const std::string& sub_org_label,
                                  const tokens::token_answer& answer) const {
  const auto& token = *answer.token;
  const auto expires_in = std::max<std::int64_t>(
      0, std::chrono::floor<std::chrono::seconds>(token.expires_at - clock_.wall_now()).count());

  auto body =
      tokens::render_token_object(org, sub_org_label, token, expires_in, answer.from_exchange);
  return api_response{200, std::move(body), "application/json", std::nullopt};
}

route_result router::answer(const api_request& request, std::string_view path,
                            std::string_view query, std::string_view& endpoint) {
  using handler = api_response (router::*)(const api_request&, std::string_view);
  struct route {
    std::string_view path;
    std::string_view endpoint;
    std::string_view method;
    handler serve;
  };
  static constexpr std::array<route, 7> routes{{
      {"/v1/health", "health", "GET", &router::health},
      {"/v1/status", "status", "GET", &router::status},
      {"/metrics", "metrics", "GET", &router::metrics},
      {"/v1/orgs", "orgs", "GET", &router::list_orgs},
      {"/v1/tokens", "tokens", "DELETE", &router::delete_tokens},
      {"/v1/whoami", "whoami", "GET", &router::whoami},
      {"/v1/reload", "reload", "POST", &router::reload},
  }};
  for (const auto& r : routes) {
    if (path != r.path) continue;
    endpoint = r.endpoint;
    if (request.method != r.method) return error_response(not_allowed(request.method, path));
    return (this->*r.serve)(request, query);
  }
  constexpr std::string_view orgs_prefix = "/v1/orgs/";
  constexpr std::string_view key_suffix = "/key";
  if (path.size() > orgs_prefix.size() + key_suffix.size() && path.starts_with(orgs_prefix) &&
      path.ends_with(key_suffix)) {
    endpoint = "key";
    return key(
        request, path,
        path.substr(orgs_prefix.size(), path.size() - orgs_prefix.size() - key_suffix.size()));
  }
  return error_response({errc::not_found, "no such endpoint: " + std::string(path)});
}

api_response router::health(const api_request& /*request*/, std::string_view /*query*/) {
  std::string body = R"({"status":"ok","version":)";
  append_json_string(body, version);
  body += '}';
  return api_response{200, std::move(body), "application/json", std::nullopt};
}

route_result router::key(const api_request& request, std::string_view path,
                         std::string_view org_text) {
  const auto org = percent_decode(org_text);  // a path segment: RFC 3986, `+` is itself
  if (!org || !is_valid_org_name(*org)) {
    const failure invalid{errc::bad_request, "invalid organization name"};
    if (request.method == "PUT") return refuse(request, "key_put", {}, invalid);
    if (request.method == "DELETE") return refuse(request, "key_delete", {}, invalid);
    return error_response(invalid);
  }
  if (request.method == "PUT") return put_key(request, *org);
  if (request.method == "DELETE") return delete_key(request, *org);
  return error_response(not_allowed(request.method, path));
}

api_response router::list_orgs(const api_request& request, std::string_view /*query*/) {
  const bool admin = access_.is_admin(request.peer);
  const auto now = clock_.wall_now();
  json orgs = json::array();
  std::size_t hidden = 0;
  for (const auto& view : tokens_.view()) {
    const auto& org = *view.settings;
    if (!admin && !access_.may_see(request.peer, org)) {
      ++hidden;
      continue;
    }
    json tokens = json::array();
    for (const auto& [sub, token] : view.tokens) {
      // A peer sees the tokens it may get; an admin sees them all.
      if (!admin && !access_.may_use(request.peer, org, {sub, org.sub_organizations.by_id(sub)})) {
        continue;
      }
      tokens.push_back({{"sub_org", sub_org_label(org, sub)},
                        {"expires_at", rfc3339(token->expires_at)},
                        {"expires_in", seconds_left(token->expires_at, now)},
                        {"obtained_at", rfc3339(token->obtained_at)}});
    }
    orgs.push_back({{"name", org.name},
                    {"auth_url", org.auth_url},
                    // What is in use: `auto` shows the version it settled on.
                    {"api_version", upstream::to_string(view.effective_version)},
                    {"has_key", org.key != nullptr},
                    {"key_source", org.source ? json(to_string(*org.source)) : json(nullptr)},
                    {"state", view.state},
                    {"last_error", failure_json(view.last_error)},
                    {"clock_skew_s", view.clock_skew.count()},
                    {"problems", org.problems},
                    {"tokens", std::move(tokens)},
                    {"sinks", sinks_json(control_.sinks(org.name))}});
  }
  return json_response(200, {{"orgs", std::move(orgs)}, {"hidden", hidden}});
}

api_response router::whoami(const api_request& request, std::string_view /*query*/) {
  const auto& peer = request.peer;
  json orgs = json::array();
  std::vector<std::shared_ptr<const org_settings>> settings;
  for (const auto& name : tokens_.org_names()) {
    auto org = tokens_.find_org(name);
    if (!org) continue;
    settings.push_back(org);
    const auto access = access_.access_to(peer, *org);
    if (!access) continue;
    orgs.push_back({{"name", name},
                    {"via", access->via},
                    {"root", access->root},
                    {"sub_orgs", sub_orgs_json(access->sub_orgs)},
                    {"any_sub_org", access->any_sub_org}});
  }
  return json_response(
      200, {{"uid", peer.uid},
            {"user", name_or_null(access_.user_name(peer.uid))},
            {"gid", peer.gid},
            {"groups", groups_json(access_, peer, access_.groups_in_rules(peer, settings))},
            {"groups_total", groups_total(peer)},
            {"admin", access_.is_admin(peer)},
            {"orgs", std::move(orgs)}});
}

api_response router::reload(const api_request& request, std::string_view /*query*/) {
  if (!access_.is_admin(request.peer)) {
    return refuse(request, "reload", {},
                  {errc::forbidden, access_.admin_refused(request.peer, "reload the daemon",
                                                          settings_.config_file)});
  }
  const auto outcome = control_.reload();
  // After the reload: the line goes to the audit file the new config names.
  audit(&request.peer, "reload", {}, outcome.ok ? "ok" : audit_reload_refused);
  return json_response(
      200, {{"at", rfc3339(outcome.at)}, {"ok", outcome.ok}, {"message", outcome.message}});
}

route_result router::put_key(const api_request& request, const std::string& org) {
  if (!access_.is_admin(request.peer)) {
    return refuse(request, "key_put", org,
                  {errc::forbidden,
                   access_.admin_refused(request.peer, "change the key of organization " + org,
                                         settings_.config_file)});
  }
  // The body holds the key: it goes straight into locked memory, with no
  // copy in a JSON library's strings (key_request.hpp). The session wipes the
  // request's own buffers once it is answered.
  auto parsed = parse_key_request(request.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    return refuse(request, "key_put", org,
                  {errc::bad_request, *problem + " (organization " + org + ")"});
  }
  auto& put = std::get<key_request>(parsed);
  if (put.verify) {
    // Tried first with a copy (also in locked memory): nothing changes unless
    // the exchange succeeds (`finish`).
    const auto copy = std::make_shared<const platform::secure_buffer>(put.key.view());
    auto trial = control_.key_trial(org, copy, put.auth_url, put.api_version, put.persist);
    if (const auto* refused = std::get_if<failure>(&trial)) {
      return refuse(request, "key_put", org, *refused);
    }
    return pending_key{org, std::move(put),
                       std::get<std::shared_ptr<const org_settings>>(std::move(trial)),
                       request.peer};
  }
  return key_answer(
      request.peer, org,
      control_.put_key(org, std::move(put.key), put.auth_url, put.api_version, put.persist), false);
}

api_response router::key_answer(const platform::peer_credentials& peer, const std::string& org,
                                std::variant<daemon_control::key_stored, failure> result,
                                bool verified) {
  if (const auto* refused = std::get_if<failure>(&result)) {
    audit(&peer, "key_put", org, code_name(refused->code));
    return error_response(*refused);
  }
  audit(&peer, "key_put", org, "ok");
  return json_response(200, {{"org", org},
                             {"persisted", std::get<daemon_control::key_stored>(result).persisted},
                             {"verified", verified}});
}

api_response router::delete_key(const api_request& request, const std::string& org) {
  if (!access_.is_admin(request.peer)) {
    return refuse(request, "key_delete", org,
                  {errc::forbidden,
                   access_.admin_refused(request.peer, "remove the key of organization " + org,
                                         settings_.config_file)});
  }
  if (const auto refused = control_.remove_key(org)) {
    return refuse(request, "key_delete", org, *refused);
  }
  audit(&request.peer, "key_delete", org, "ok");
  return json_response(200, {{"org", org}, {"removed", true}});
}

api_response router::delete_tokens(const api_request& request, std::string_view query) {
  const auto params = parse_query(query);
  if (!params) {
    return refuse(request, "flush", {}, {errc::bad_request, "the query string is malformed"});
  }
  std::string org;
  for (const auto& [name, value] : *params) {
    if (name != "org") {
      return refuse(request, "flush", org, {errc::bad_request, "unknown query parameter: " + name});
    }
    org = value;
  }
  const bool admin = access_.is_admin(request.peer);
  if (org.empty() && !admin) {
    return refuse(
        request, "flush", org,
        {errc::forbidden, access_.admin_refused(request.peer, "flush every organization's tokens",
                                                settings_.config_file)});
  }
  if (!org.empty()) {
    if (!is_valid_org_name(org)) {
      return refuse(request, "flush", org, {errc::bad_request, "invalid organization name"});
    }
    const auto settings = tokens_.find_org(org);
    if (!settings) {
      return refuse(request, "flush", org, {errc::unknown_org, "no organization named " + org});
    }
    // SPEC §4: an admin, or a peer allowed to use the organization.
    if (!admin && !access_.may_use(request.peer, *settings)) {
      return refuse(
          request, "flush", org,
          {errc::forbidden, access_.use_refused(request.peer, *settings, settings_.config_file)});
    }
  }
  const auto evicted = tokens_.evict(org);
  audit(&request.peer, "flush", org, "ok");
  return json_response(200, {{"evicted", evicted}});
}

api_response router::status(const api_request& /*request*/, std::string_view /*query*/) {
  const auto cache_file = control_.cache_file();
  const auto& stats = tokens_.stats();
  return json_response(
      200, {{"version", version},
            {"uptime_s",
             std::chrono::floor<std::chrono::seconds>(clock_.wall_now() - started_at_).count()},
            {"orgs", tokens_.org_names().size()},
            {"cached_tokens", tokens_.cached_tokens()},
            {"requests_total", requests_total_ + 1},  // this one included
            {"exchanges_total", stats.exchanges_total},
            {"connections", control_.connections()},
            {"last_reload",
             {{"at", rfc3339(last_reload_.at)},
              {"ok", last_reload_.ok},
              {"message", last_reload_.message}}},
            {"cache_file", cache_file ? json{{"path", cache_file->path},
                                             {"state", cache_file->state},
                                             {"message", cache_file->message}}
                                      : json(nullptr)},
            {"secure_memory", platform::secure_memory_locked() ? "locked" : "unlocked"}});
}

api_response router::metrics(const api_request& /*request*/, std::string_view /*query*/) {
  prometheus_text out;
  out.family("requests_total", "counter", "Socket API requests answered.");
  for (const auto& [key, n] : request_counts_) {
    out.sample("requests_total", {{"endpoint", key.first}, {"code", std::to_string(key.second)}},
               std::to_string(n));
  }
  const auto& stats = tokens_.stats();
  out.family("cache_hits_total", "counter", "Token requests served from the cache.");
  out.sample("cache_hits_total", {}, std::to_string(stats.cache_hits));
  out.family("cache_misses_total", "counter", "Token requests the cache could not serve.");
  out.sample("cache_misses_total", {}, std::to_string(stats.cache_misses));
  out.family("exchanges_total", "counter", "Exchanges with the auth server, by result.");
  for (const auto& [key, n] : stats.exchanges) {
    out.sample("exchanges_total", {{"org", key.first}, {"result", key.second}}, std::to_string(n));
  }
  write_duration_histogram(out, stats);
  write_org_metrics(out, tokens_.view(), clock_.wall_now());
  out.family("sink_failures_total", "counter", "Sink files that could not be written or removed.");
  out.sample("sink_failures_total", {}, std::to_string(control_.sink_failures()));
  out.family("connections", "gauge", "Open connections on the socket.");
  out.sample("connections", {}, std::to_string(control_.connections()));
  out.family("audit_errors_total", "counter", "Audit lines that could not be written.");
  out.sample("audit_errors_total", {}, std::to_string(audit_ != nullptr ? audit_->errors() : 0));
  return api_response{200, out.take(), "text/plain; version=0.0.4", std::nullopt};
}

}  // namespace actoken::api
