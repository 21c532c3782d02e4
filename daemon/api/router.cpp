#include "daemon/api/router.hpp"

#include "common/json_text.hpp"
#include "common/version.hpp"
#include "daemon/api/key_request.hpp"
#include "daemon/config.hpp"

#include <nlohmann/json.hpp>

#include <time.h>

#include <charconv>
#include <vector>

namespace actoken::api {
namespace {

using json = nlohmann::json;
using tokens::token_outcome;

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
    auto name = percent_decode(pair.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
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

json failure_json(const std::optional<tokens::failure_record>& record) {
  if (!record) return nullptr;
  json out{{"code", code_name(record->error.code)}, {"message", record->error.message}};
  out["at"] = record->at == wall_time{} ? json(nullptr) : json(rfc3339(record->at));
  return out;
}

// The alias a GUID is known by, else the GUID itself ("" → null).
json sub_org_label(const org_settings& org, const std::string& guid) {
  if (guid.empty()) return nullptr;
  for (const auto& [alias, id] : org.sub_organizations) {
    if (id == guid) return alias;
  }
  return guid;
}

}  // namespace

/// A parsed `/v1/token` query.
struct router::token_query {
  tokens::token_request request;
  std::string sub_org_label;  // as asked: alias or GUID, "" for none
};

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      unsigned value = 0;
      const auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
      if (ec != std::errc() || ptr != text.data() + i + 3) return std::nullopt;
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

router::router(tokens::token_service& tokens, access_policy& access, daemon_control& control,
               const clock& clock)
    : tokens_(tokens), access_(&access), control_(control), clock_(clock) {}

api_response router::error_response(const failure& failure) {
  api_response response;
  response.status = http_status(failure.code);
  response.body = R"({"error":)";
  append_json_string(response.body, code_name(failure.code));
  response.body += R"(,"message":)";
  append_json_string(response.body, failure.message);
  response.body += '}';
  if (carries_retry_after(failure.code)) {
    response.retry_after = failure.retry_after.value_or(std::chrono::seconds{1});
  }
  return response;
}

api_response router::count(std::string_view endpoint, api_response response) {
  ++requests_total_;
  ++request_counts_[{endpoint, response.status}];
  return response;
}

std::optional<api_response> router::handle(const api_request& request) {
  std::string_view endpoint;
  auto response = dispatch(request, endpoint);
  if (!response) return std::nullopt;  // counted by handle_async
  return count(endpoint, std::move(*response));
}

boost::asio::awaitable<api_response> router::handle_async(api_request request) {
  auto parsed = parse_token_query(request);
  if (auto* response = std::get_if<api_response>(&parsed)) {
    co_return count("token", std::move(*response));
  }
  auto& query = std::get<token_query>(parsed);
  const auto outcome = co_await tokens_.get(query.request);
  co_return count("token", render_token(query, outcome));
}

std::optional<api_response> router::dispatch(const api_request& request,
                                             std::string_view& endpoint) {
  const auto question = request.target.find('?');
  const auto path = request.target.substr(0, question);
  const auto query =
      question == std::string_view::npos ? std::string_view() : request.target.substr(question + 1);
  const auto method = request.method;
  auto only = [&](std::string_view allowed) -> std::optional<api_response> {
    if (method == allowed) return std::nullopt;
    return error_response({errc::method_not_allowed,
                           std::string(method) + " is not allowed on " + std::string(path)});
  };

  if (path == "/v1/token") {
    endpoint = "token";
    if (auto error = only("GET")) return error;
    auto parsed = parse_token_query(request);
    if (auto* response = std::get_if<api_response>(&parsed)) return std::move(*response);
    auto& token = std::get<token_query>(parsed);
    auto outcome = tokens_.try_get(token.request);
    if (!outcome) return std::nullopt;
    return render_token(token, *outcome);
  }
  if (path == "/v1/health") {
    endpoint = "health";
    if (auto error = only("GET")) return error;
    std::string body = R"({"status":"ok","version":)";
    append_json_string(body, version);
    body += '}';
    return api_response{200, std::move(body), "application/json", std::nullopt};
  }
  if (path == "/v1/status") {
    endpoint = "status";
    if (auto error = only("GET")) return error;
    return status();
  }
  if (path == "/metrics") {
    endpoint = "metrics";
    if (auto error = only("GET")) return error;
    return metrics();
  }
  if (path == "/v1/orgs") {
    endpoint = "orgs";
    if (auto error = only("GET")) return error;
    return list_orgs(request);
  }
  if (path == "/v1/tokens") {
    endpoint = "tokens";
    if (auto error = only("DELETE")) return error;
    return delete_tokens(request, query);
  }
  constexpr std::string_view orgs_prefix = "/v1/orgs/";
  constexpr std::string_view key_suffix = "/key";
  if (path.size() > orgs_prefix.size() + key_suffix.size() && path.starts_with(orgs_prefix) &&
      path.ends_with(key_suffix)) {
    endpoint = "key";
    const auto raw =
        path.substr(orgs_prefix.size(), path.size() - orgs_prefix.size() - key_suffix.size());
    const auto org = percent_decode(raw);
    if (!org || !is_valid_org_name(*org)) {
      return error_response({errc::bad_request, "invalid organization name"});
    }
    if (method == "PUT") return put_key(request, *org);
    if (method == "DELETE") return delete_key(request, *org);
    return error_response({errc::method_not_allowed,
                           std::string(method) + " is not allowed on " + std::string(path)});
  }
  endpoint = "other";
  return error_response({errc::not_found, "no such endpoint: " + std::string(path)});
}

std::variant<router::token_query, api_response> router::parse_token_query(
    const api_request& request) {
  const auto question = request.target.find('?');
  const auto params =
      parse_query(question == std::string_view::npos ? std::string_view()
                                                     : request.target.substr(question + 1));
  if (!params) {
    return error_response({errc::bad_request, "the query string is malformed"});
  }
  token_query query;
  query.request.min_ttl = control_.default_min_ttl();
  for (const auto& [name, value] : *params) {
    if (name == "org") {
      query.request.org = value;
    } else if (name == "sub_org") {
      query.sub_org_label = value;
    } else if (name == "min_ttl") {
      const auto n = parse_int(value);
      if (!n || *n < 0 || *n > max_min_ttl) {
        return error_response(
            {errc::bad_request, "min_ttl must be a whole number from 0 to 86400"});
      }
      query.request.min_ttl = std::chrono::seconds{*n};
    } else if (name == "fresh") {
      const auto flag = parse_flag(value);
      if (!flag) return error_response({errc::bad_request, "fresh must be 1 or 0"});
      query.request.fresh = *flag;
    } else {
      return error_response({errc::bad_request, "unknown query parameter: " + name});
    }
  }

  if (query.request.org.empty()) {
    if (auto fallback = control_.default_org()) {
      query.request.org = *fallback;
    } else if (const auto names = tokens_.org_names(); names.size() == 1) {
      query.request.org = names.front();
    } else {
      return error_response(
          {errc::bad_request, "name an organization with org= (there is no default_org)"});
    }
  }
  if (!is_valid_org_name(query.request.org)) {
    return error_response({errc::bad_request, "invalid organization name"});
  }
  const auto org = tokens_.find_org(query.request.org);
  if (!org) {
    return error_response({errc::unknown_org, "no organization named " + query.request.org});
  }
  if (!access_->may_use(request.peer, *org)) {
    return error_response({errc::forbidden, "uid " + std::to_string(request.peer.uid) +
                                                " may not use organization " + query.request.org});
  }
  if (!query.sub_org_label.empty()) {
    const auto alias = org->sub_organizations.find(query.sub_org_label);
    if (alias != org->sub_organizations.end()) {
      query.request.sub_org = alias->second;
    } else if (is_guid(query.sub_org_label)) {
      query.request.sub_org = lower(query.sub_org_label);
    } else {
      return error_response({errc::bad_request, "sub_org " + query.sub_org_label +
                                                    " of organization " + query.request.org +
                                                    " is neither an alias nor a GUID"});
    }
  }
  return query;
}

api_response router::render_token(const token_query& query, const tokens::token_outcome& outcome) {
  if (const auto* error = std::get_if<failure>(&outcome)) {
    return error_response(*error);
  }
  const auto& answer = std::get<tokens::token_answer>(outcome);
  const auto& token = *answer.token;
  const auto expires_in = std::max<std::int64_t>(
      0, std::chrono::floor<std::chrono::seconds>(token.expires_at - clock_.wall_now()).count());

  // Written by hand: this is the hot path, and its shape never changes. The
  // token's own members were rendered when it was cached.
  std::string body;
  body.reserve(token.json_members.size() + query.request.org.size() + query.sub_org_label.size() +
               80);
  body += R"({"org":)";
  append_json_string(body, query.request.org);
  body += R"(,"sub_org":)";
  if (query.sub_org_label.empty()) {
    body += "null";
  } else {
    append_json_string(body, query.sub_org_label);
  }
  body += R"(,"expires_in":)";
  char digits[24];
  body.append(digits, std::to_chars(digits, digits + sizeof digits, expires_in).ptr);
  body += ',';
  body += token.json_members;
  body += answer.from_exchange ? R"(,"source":"exchange"})" : R"(,"source":"cache"})";
  return api_response{200, std::move(body), "application/json", std::nullopt};
}

api_response router::list_orgs(const api_request& request) {
  const bool admin = access_->is_admin(request.peer);
  const auto now = clock_.wall_now();
  json orgs = json::array();
  for (const auto& view : tokens_.view()) {
    const auto& org = *view.settings;
    if (!admin && !access_->may_use(request.peer, org)) continue;
    json tokens = json::array();
    for (const auto& [sub, token] : view.tokens) {
      tokens.push_back(
          {{"sub_org", sub_org_label(org, sub)},
           {"expires_at", rfc3339(token->expires_at)},
           {"expires_in",
            std::max<std::int64_t>(
                0, std::chrono::floor<std::chrono::seconds>(token->expires_at - now).count())},
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
                    {"tokens", std::move(tokens)}});
  }
  return json_response(200, {{"orgs", std::move(orgs)}});
}

api_response router::put_key(const api_request& request, const std::string& org) {
  if (!access_->is_admin(request.peer)) {
    return error_response({errc::forbidden, "uid " + std::to_string(request.peer.uid) +
                                                " may not change the key of organization " + org});
  }
  // The body holds the key: it goes straight into locked memory, with no
  // copy in a JSON library's strings (key_request.hpp). The session wipes the
  // request's own buffers once it is answered.
  auto parsed = parse_key_request(request.body);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    return error_response({errc::bad_request, *problem + " (organization " + org + ")"});
  }
  auto& put = std::get<key_request>(parsed);
  auto result =
      control_.put_key(org, std::move(put.key), put.auth_url, put.api_version, put.persist);
  if (const auto* refused = std::get_if<failure>(&result)) return error_response(*refused);
  return json_response(
      200, {{"org", org}, {"persisted", std::get<daemon_control::key_stored>(result).persisted}});
}

api_response router::delete_key(const api_request& request, const std::string& org) {
  if (!access_->is_admin(request.peer)) {
    return error_response({errc::forbidden, "uid " + std::to_string(request.peer.uid) +
                                                " may not remove the key of organization " + org});
  }
  if (const auto refused = control_.remove_key(org)) return error_response(*refused);
  return json_response(200, {{"org", org}, {"removed", true}});
}

api_response router::delete_tokens(const api_request& request, std::string_view query) {
  const auto params = parse_query(query);
  if (!params) return error_response({errc::bad_request, "the query string is malformed"});
  std::string org;
  for (const auto& [name, value] : *params) {
    if (name != "org")
      return error_response({errc::bad_request, "unknown query parameter: " + name});
    org = value;
  }
  if (org.empty()) {
    if (!access_->is_admin(request.peer)) {
      return error_response({errc::forbidden, "uid " + std::to_string(request.peer.uid) +
                                                  " may not flush every organization's tokens"});
    }
  } else {
    if (!is_valid_org_name(org))
      return error_response({errc::bad_request, "invalid organization name"});
    const auto settings = tokens_.find_org(org);
    if (!settings) return error_response({errc::unknown_org, "no organization named " + org});
    // SPEC §4: an admin, or a peer allowed to use the organization.
    if (!access_->is_admin(request.peer) && !access_->may_use(request.peer, *settings)) {
      return error_response({errc::forbidden, "uid " + std::to_string(request.peer.uid) +
                                                  " may not flush organization " + org});
    }
  }
  return json_response(200, {{"evicted", tokens_.evict(org)}});
}

api_response router::status() {
  const auto reload = control_.last_reload();
  const auto cache_file = control_.cache_file();
  const auto& stats = tokens_.stats();
  return json_response(
      200, {{"version", version},
            {"uptime_s",
             std::chrono::floor<std::chrono::seconds>(clock_.wall_now() - control_.started_at())
                 .count()},
            {"orgs", tokens_.org_names().size()},
            {"cached_tokens", tokens_.cached_tokens()},
            {"requests_total", requests_total_ + 1},  // this one included
            {"exchanges_total", stats.exchanges_total},
            {"connections", control_.connections()},
            {"last_reload",
             {{"at", rfc3339(reload.at)}, {"ok", reload.ok}, {"message", reload.message}}},
            {"cache_file", cache_file ? json{{"path", cache_file->path},
                                             {"state", cache_file->state},
                                             {"message", cache_file->message}}
                                      : json(nullptr)},
            {"secure_memory", platform::secure_memory_locked() ? "locked" : "unlocked"}});
}

api_response router::metrics() {
  const auto& stats = tokens_.stats();
  std::string out;
  auto label = [&out](std::string_view text) {
    out.push_back('"');
    for (char c : text) {
      if (c == '\\' || c == '"') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    out.push_back('"');
  };

  out += "# HELP actoken_requests_total Socket API requests answered.\n";
  out += "# TYPE actoken_requests_total counter\n";
  for (const auto& [key, n] : request_counts_) {
    out += "actoken_requests_total{endpoint=";
    label(key.first);
    out += ",code=\"" + std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP actoken_cache_hits_total Token requests served from the cache.\n";
  out += "# TYPE actoken_cache_hits_total counter\n";
  out += "actoken_cache_hits_total " + std::to_string(stats.cache_hits) + "\n";
  out += "# HELP actoken_cache_misses_total Token requests the cache could not serve.\n";
  out += "# TYPE actoken_cache_misses_total counter\n";
  out += "actoken_cache_misses_total " + std::to_string(stats.cache_misses) + "\n";
  out += "# HELP actoken_exchanges_total Exchanges with the auth server, by result.\n";
  out += "# TYPE actoken_exchanges_total counter\n";
  for (const auto& [key, n] : stats.exchanges) {
    out += "actoken_exchanges_total{org=";
    label(key.first);
    out += ",result=";
    label(key.second);
    out += "} " + std::to_string(n) + "\n";
  }
  out += "# HELP actoken_exchange_duration_seconds Time of one exchange.\n";
  out += "# TYPE actoken_exchange_duration_seconds histogram\n";
  for (std::size_t i = 0; i < stats.duration_bucket_bounds.size(); ++i) {
    char bound[32];
    std::snprintf(bound, sizeof bound, "%g", stats.duration_bucket_bounds[i]);
    out += "actoken_exchange_duration_seconds_bucket{le=\"" + std::string(bound) + "\"} " +
           std::to_string(stats.duration_buckets[i]) + "\n";
  }
  out += "actoken_exchange_duration_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(stats.duration_count) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f", stats.duration_sum);
  out += "actoken_exchange_duration_seconds_sum " + std::string(sum) + "\n";
  out += "actoken_exchange_duration_seconds_count " + std::to_string(stats.duration_count) + "\n";
  out += "# HELP actoken_token_expires_in_seconds Seconds left on each cached token.\n";
  out += "# TYPE actoken_token_expires_in_seconds gauge\n";
  const auto now = clock_.wall_now();
  for (const auto& view : tokens_.view()) {
    for (const auto& [sub, token] : view.tokens) {
      out += "actoken_token_expires_in_seconds{org=";
      label(view.settings->name);
      out += ",sub_org=";
      label(sub);
      out += "} " +
             std::to_string(
                 std::chrono::floor<std::chrono::seconds>(token->expires_at - now).count()) +
             "\n";
    }
  }
  out += "# HELP actoken_connections Open connections on the socket.\n";
  out += "# TYPE actoken_connections gauge\n";
  out += "actoken_connections " + std::to_string(control_.connections()) + "\n";
  return api_response{200, std::move(out), "text/plain; version=0.0.4", std::nullopt};
}

}  // namespace actoken::api
