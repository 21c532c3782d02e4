#include "tests/stand_in/auth_handler.hpp"

#include "tests/stand_in/encoding.hpp"
#include "tests/stand_in/jwt.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace actoken::stand_in {
namespace {

using nlohmann::json;
using std::chrono::system_clock;

constexpr std::string_view control_prefix = "/_stand_in/";
constexpr std::size_t max_recorded_requests = 10'000;

// "v1", "v2" or "v3" for a token path, "" otherwise.
std::string_view token_version(std::string_view path) {
  for (const std::string_view version : {"v1", "v2", "v3"}) {
    if (path.size() == 14 && path.starts_with("/auth/") && path.substr(6, 2) == version &&
        path.ends_with("/token")) {
      return version;
    }
  }
  return {};
}

outgoing_response json_answer(unsigned status, json body) {
  outgoing_response response;
  response.status = status;
  response.body = body.dump();
  return response;
}

// Appcircle's error bodies are not documented (SPEC §1); this uses the OAuth 2
// shape, which is what the daemon reads first.
outgoing_response json_error(unsigned status, std::string_view error,
                             std::string_view description) {
  return json_answer(status, {{"error", error}, {"error_description", description}});
}

outgoing_response method_not_allowed(std::string_view allowed) {
  auto response = json_error(405, "method_not_allowed", "Method not allowed on this path.");
  response.headers.emplace_back("Allow", allowed);
  return response;
}

// A 401 that echoes the key it was sent, in `encoding`: the careless server
// the daemon must not repeat (SPEC §6 "Secrets").
outgoing_response echo_key_error(std::string_view key, echo_encoding encoding) {
  const std::string echoed = encode_echo(key, encoding);
  outgoing_response response;
  response.status = 401;
  if (is_html_escape(encoding)) {
    response.content_type = "text/html; charset=utf-8";
    response.body = "<html><body><p>Invalid personal access key: " + echoed + "</p></body></html>";
  } else if (encoding == echo_encoding::split) {
    // Each field alone holds half the key; they are shown joined.
    const auto half = split_point(echoed.size());
    response.body =
        json{{"error", "key " + echoed.substr(0, half)}, {"error_description", echoed.substr(half)}}
            .dump();
  } else {
    // The JSON encodings as a server that quotes the request it got as JSON
    // inside its message: the escapes survive the parsing of the answer.
    const std::string description =
        is_json_escape(encoding) ? R"(Unknown key in {"personalAccessKey":")" + echoed + R"("})"
                                 : "Unknown key " + echoed;
    response.body = json{{"error", "invalid_grant"}, {"error_description", description}}.dump();
  }
  return response;
}

outgoing_response html_page() {
  outgoing_response response;
  response.content_type = "text/html; charset=utf-8";
  response.body =
      "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
      "<body><h1>Welcome</h1><p>Please sign in.</p></body></html>\n";
  return response;
}

const std::string* find_field(const std::optional<form_fields>& form, std::string_view name) {
  if (!form) {
    return nullptr;
  }
  const auto found = form->find(name);
  return found == form->end() ? nullptr : &found->second;
}

std::int64_t epoch_seconds(system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::seconds>(time.time_since_epoch()).count();
}

}  // namespace

std::string format_http_date(system_clock::time_point time) {
  static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t seconds = system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                days.at(static_cast<std::size_t>(utc.tm_wday)), utc.tm_mday,
                months.at(static_cast<std::size_t>(utc.tm_mon)), utc.tm_year + 1900, utc.tm_hour,
                utc.tm_min, utc.tm_sec);
  return text;
}

auth_handler::auth_handler(bool control_api) : control_api_(control_api), secret_(random_hex(32)) {}

outgoing_response auth_handler::handle(const incoming_request& request) {
  const auto now = system_clock::now();
  const std::string_view path =
      std::string_view(request.target).substr(0, request.target.find('?'));
  const std::string_view version = token_version(path);

  const std::lock_guard lock(mutex_);
  outgoing_response response;
  if (!version.empty()) {
    response = handle_token(request, path, version, now + behaviour_.clock_offset);
  } else if (control_api_ && path.starts_with(control_prefix)) {
    response = handle_control(request, path);
  } else {
    response = json_error(404, "not_found", "No such endpoint.");
  }
  response.date = now + behaviour_.clock_offset;
  response.date_header = behaviour_.date_header;
  return response;
}

outgoing_response auth_handler::handle_token(const incoming_request& request, std::string_view path,
                                             std::string_view version,
                                             system_clock::time_point server_now) {
  const auto form = decode_form(request.body);
  record(request, path, form);
  ++exchanges_;
  const std::string* key = find_field(form, version == "v3" ? "personalAccessKey" : "pat");
  if (key != nullptr) {
    ++exchanges_by_key_[*key];
  }
  const std::string* sub_org = find_field(form, "subOrganization");

  // The order follows what a real server checks first: routing, then the
  // (simulated) infrastructure in front of it, then the request itself.
  const auto answer = [&]() -> outgoing_response {
    if (behaviour_.disabled_versions.contains(std::string(version))) {
      return json_error(404, "not_found", "No such endpoint.");
    }
    if (request.method != "POST") {
      return method_not_allowed("POST");
    }
    if (behaviour_.forced_status != 0) {
      auto forced = json_error(behaviour_.forced_status, "stand_in_forced_status",
                               "The stand-in was told to fail this request.");
      if (!behaviour_.retry_after.empty()) {
        forced.headers.emplace_back("Retry-After", behaviour_.retry_after);
      }
      return forced;
    }
    if (behaviour_.html_body) {
      return html_page();
    }
    if (!is_form_content_type(request.content_type)) {
      return json_error(400, "invalid_request", "Expected a url-encoded form body.");
    }
    if (!form) {
      return json_error(400, "invalid_request", "Malformed form body.");
    }
    if (key == nullptr || key->empty()) {
      return json_error(400, "invalid_request", "The personal access key is missing.");
    }
    if (behaviour_.echo_key) {
      return echo_key_error(*key, *behaviour_.echo_key);
    }
    if (version == "v1" && sub_org != nullptr) {
      return json_error(400, "invalid_request", "v1 does not take subOrganization.");
    }
    const auto owner = accounts_.find(*key);
    if (owner == accounts_.end()) {
      // Never echo the key: the daemon must not be tempted to log it.
      return json_error(401, "invalid_grant", "The personal access key is not valid.");
    }
    if (sub_org == nullptr) {
      return issue_token(owner->second, owner->second.org_id, server_now);
    }
    if (sub_org->empty()) {
      return json_error(400, "invalid_request", "subOrganization is empty.");
    }
    const auto& allowed = owner->second.sub_org_ids;
    if (*sub_org != owner->second.org_id &&
        std::find(allowed.begin(), allowed.end(), *sub_org) == allowed.end()) {
      return json_error(403, "unauthorized_client",
                        "This key may not get tokens for that organization.");
    }
    return issue_token(owner->second, *sub_org, server_now);
  };
  outgoing_response response = answer();
  response.delay = behaviour_.delay;
  response.fault_mode = behaviour_.fault_mode;
  return response;
}

outgoing_response auth_handler::issue_token(const account& owner, const std::string& org_id,
                                            system_clock::time_point server_now) {
  jwt_claims claims;
  claims.subject = "stand-in-user-" + owner.org_id;
  claims.organization_id = org_id;
  claims.issued_at = epoch_seconds(server_now);
  claims.expires_at = claims.issued_at + behaviour_.token_lifetime.count();
  claims.token_id = random_hex(16);

  json body = {{"access_token", sign_jwt(claims, secret_) + behaviour_.token_suffix},
               {"token_type", "Bearer"}};
  if (behaviour_.send_expires_in) {
    body["expires_in"] = behaviour_.token_lifetime.count();
  }
  // An answer in pieces is whole once read: only the faults that break it do not count.
  if (behaviour_.fault_mode == fault::none || behaviour_.fault_mode == fault::in_pieces) {
    ++successful_exchanges_;
  }
  return json_answer(200, std::move(body));
}

outgoing_response auth_handler::handle_control(const incoming_request& request,
                                               std::string_view path) {
  if (path == "/_stand_in/stats") {
    if (request.method != "GET") {
      return method_not_allowed("GET");
    }
    return json_answer(
        200, {{"exchanges", exchanges_}, {"successful_exchanges", successful_exchanges_}});
  }
  if (path == "/_stand_in/behaviour") {
    if (request.method == "PUT") {
      try {
        behaviour_ = behaviour_from_json(request.body);
      } catch (const std::invalid_argument& error) {
        return json_error(400, "invalid_request", error.what());
      }
    } else if (request.method != "GET") {
      return method_not_allowed("GET, PUT");
    }
    outgoing_response response;
    response.body = behaviour_to_json(behaviour_);
    return response;
  }
  return json_error(404, "not_found", "No such endpoint.");
}

void auth_handler::record(const incoming_request& request, std::string_view path,
                          const std::optional<form_fields>& form) {
  recorded_request entry{
      request.method, std::string(path),  request.content_type, request.accept, {},
      request.body,   request.tls_records};
  if (form) {
    entry.form.insert(form->begin(), form->end());
  }
  if (requests_.size() == max_recorded_requests) {
    requests_.pop_front();
  }
  requests_.push_back(std::move(entry));
}

void auth_handler::add_account(std::string key, std::string org_id,
                               std::vector<std::string> sub_org_ids) {
  const std::lock_guard lock(mutex_);
  accounts_.insert_or_assign(std::move(key), account{std::move(org_id), std::move(sub_org_ids)});
}

void auth_handler::set_behaviour(const behaviour& value) {
  const std::lock_guard lock(mutex_);
  behaviour_ = value;
}

behaviour auth_handler::get_behaviour() const {
  const std::lock_guard lock(mutex_);
  return behaviour_;
}

std::size_t auth_handler::exchanges() const {
  const std::lock_guard lock(mutex_);
  return exchanges_;
}

std::size_t auth_handler::exchanges_for(std::string_view key) const {
  const std::lock_guard lock(mutex_);
  const auto found = exchanges_by_key_.find(key);
  return found == exchanges_by_key_.end() ? 0 : found->second;
}

std::size_t auth_handler::successful_exchanges() const {
  const std::lock_guard lock(mutex_);
  return successful_exchanges_;
}

std::vector<recorded_request> auth_handler::requests() const {
  const std::lock_guard lock(mutex_);
  return {requests_.begin(), requests_.end()};
}

void auth_handler::reset_counters() {
  const std::lock_guard lock(mutex_);
  exchanges_ = 0;
  successful_exchanges_ = 0;
  exchanges_by_key_.clear();
  requests_.clear();
}

}  // namespace actoken::stand_in
