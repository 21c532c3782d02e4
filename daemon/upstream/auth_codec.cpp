#include "daemon/upstream/auth_codec.hpp"

#include "common/base64.hpp"
#include "common/bearer_token.hpp"
#include "common/text.hpp"
#include "daemon/upstream/key_echo.hpp"

#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>

namespace actoken::upstream {
namespace {

constexpr std::size_t max_error_detail = 200;
// The longest error body searched for the key (and shown in part).
constexpr std::size_t max_searched_body = 64 * 1024;
constexpr std::string_view withheld_long_detail =
    "upstream text withheld: longer than 64 KiB, not searched for the key";
// Times beyond these are nonsense from a server (and would overflow the
// nanosecond clock): year 2200 as Unix seconds, and ten years of lifetime.
constexpr std::int64_t max_unix_seconds = 7'258'118'400;
constexpr std::int64_t max_lifetime_seconds = 10LL * 365 * 86400;
// The clock difference below which the server's Date is not worth trusting
// over our own (HTTP dates have whole-second resolution; SPEC §3).
constexpr seconds skew_threshold{2};
// A server Date further from our clock than this is a broken clock, not skew.
constexpr seconds max_believed_skew{86400};
bool is_unreserved(unsigned char c) noexcept {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

std::optional<std::int64_t> as_seconds(const nlohmann::json& value) {
  if (value.is_number_integer()) {
    return value.get<std::int64_t>();
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (std::isfinite(d) && std::fabs(d) < 1e15) {
      return static_cast<std::int64_t>(d);
    }
  }
  if (value.is_string()) {
    // Some servers send expires_in as a string; accept plain digits only.
    const auto& text = value.get_ref<const std::string&>();
    if (!text.empty() && text.size() < 16 &&
        text.find_first_not_of("0123456789") == std::string::npos) {
      return std::stoll(text);
    }
  }
  return std::nullopt;
}

// A short, printable, single-line rendering of upstream text.
std::string printable_detail(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), max_error_detail + 3));
  for (char c : text.substr(0, std::min(text.size(), max_error_detail))) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back((u >= 0x20 && u < 0x7F) ? c : ' ');
  }
  if (text.size() > max_error_detail) out += "...";
  return std::string(trim(out, " "));
}

// What an error body says, from `error`, `error_description`, `message`, else
// its text; withheld whole when the key is in it in any form (SPEC §6), or
// when it is too long to search. The
// body as sent is searched, and the fields as parsed (JSON escapes undone by
// the parser may have been hiding another encoding), joined as they are shown
// and joined with nothing between them, so that a key split between two
// fields is found too.
std::string error_detail(std::string_view body, std::string_view key) {
  // Searching costs the serving thread time in proportion to the text (every
  // layer of escapes, every form of the key): a hostile server's megabyte is
  // not searched, and none of it is shown.
  if (body.size() > max_searched_body) return std::string(withheld_long_detail);
  const key_finder finder(key);
  if (finder.found_in(body)) return std::string(withheld_detail);
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object()) return printable_detail(body);
  std::string detail;
  std::string joined;
  for (const char* field : {"error", "error_description", "message"}) {
    const auto it = json.find(field);
    if (it != json.end() && it->is_string() && !it->get_ref<const std::string&>().empty()) {
      if (!detail.empty()) detail += ": ";
      detail += it->get_ref<const std::string&>();
      joined += it->get_ref<const std::string&>();
    }
  }
  const bool withheld = finder.found_in(joined) || finder.found_in(detail);
  platform::secure_wipe(joined.data(), joined.size());
  if (withheld) {
    platform::secure_wipe(detail.data(), detail.size());
    return std::string(withheld_detail);
  }
  return detail.empty() ? printable_detail(body) : printable_detail(detail);
}

std::string status_sentence(errc code, unsigned status) {
  const auto status_text = std::to_string(status);
  switch (code) {
    case errc::key_rejected:
      return "the auth server rejected the key (HTTP " + status_text + ")";
    case errc::endpoint_not_found:
      return "the auth server has no such token endpoint (HTTP " + status_text + ")";
    case errc::rate_limited:
      return "the auth server is rate limiting (HTTP " + status_text + ")";
    case errc::upstream_unavailable:
      return "the auth server is unavailable (HTTP " + status_text + ")";
    default:
      return "the auth server answered HTTP " + status_text;
  }
}

}  // namespace

std::string_view token_path(api_version v) noexcept {
  switch (v) {
    case api_version::v1:
      return "/auth/v1/token";
    case api_version::v2:
      return "/auth/v2/token";
    default:
      return "/auth/v3/token";
  }
}

void form_encode(std::string_view value, platform::secure_buffer& out) {
  static constexpr std::string_view hex = "0123456789ABCDEF";
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (is_unreserved(u)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4U]);
      out.push_back(hex[u & 0x0FU]);
    }
  }
}

platform::secure_buffer build_form_body(const exchange_params& params) {
  platform::secure_buffer body;
  // Worst case every byte escapes to three; reserving avoids reallocations
  // that would leave unwiped copies (they are wiped, but fewer is better).
  body.reserve(64 + 3 * (params.key.size() + params.scope.size() + params.sub_org.size()));
  body.append(params.version == api_version::v3 ? "personalAccessKey=" : "pat=");
  form_encode(params.key, body);
  if (!params.scope.empty()) {
    body.append("&scope=");
    form_encode(params.scope, body);
  }
  if (!params.sub_org.empty() && params.version != api_version::v1) {
    body.append("&subOrganization=");
    form_encode(params.sub_org, body);
  }
  return body;
}

std::optional<std::int64_t> jwt_exp(std::string_view jwt) {
  const auto first = jwt.find('.');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const auto second = jwt.find('.', first + 1);
  if (second == std::string_view::npos) {
    return std::nullopt;
  }
  const auto payload = base64url_decode(jwt.substr(first + 1, second - first - 1));
  if (!payload) {
    return std::nullopt;
  }
  const auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object()) {
    return std::nullopt;
  }
  const auto exp = claims.find("exp");
  if (exp == claims.end()) {
    return std::nullopt;
  }
  return as_seconds(*exp);
}

std::optional<wall_time> parse_http_date(std::string_view text) {
  if (text.empty() || text.size() > 64) {
    return std::nullopt;
  }
  const std::string copy(text);
  // IMF-fixdate, then the two obsolete forms RFC 9110 still asks us to accept.
  for (const char* format :
       {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = ::strptime(copy.c_str(), format, &tm);
    if (end != nullptr && *end == '\0') {
      if (tm.tm_year < 70 || tm.tm_year > 300) {
        return std::nullopt;  // before 1970 or after 2200: not a date a server means
      }
      const auto t = ::timegm(&tm);
      if (t == -1) {
        return std::nullopt;
      }
      return wall_clock::from_time_t(t);
    }
  }
  return std::nullopt;
}

std::optional<seconds> parse_retry_after(std::string_view text, wall_time now) {
  text = trim(text, " \t");  // RFC 9110's optional white space
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    // Cap absurd values at a day: a typo upstream must not silence us for a year.
    if (text.size() > 6) {
      return seconds{86400};
    }
    return seconds{std::min<long long>(std::stoll(std::string(text)), 86400)};
  }
  if (const auto date = parse_http_date(text)) {
    const auto delta = std::chrono::ceil<seconds>(*date - now);
    return std::clamp(delta, seconds{0}, seconds{86400});
  }
  return std::nullopt;
}

errc classify_status(unsigned status) noexcept {
  switch (status) {
    case 400:
    case 401:
    case 403:
      return errc::key_rejected;
    case 404:
    case 405:
      return errc::endpoint_not_found;
    case 408:
    case 504:
      return errc::upstream_timeout;
    case 429:
      return errc::rate_limited;
    default:
      break;
  }
  if (status >= 500 && status <= 599) {
    return errc::upstream_unavailable;
  }
  // Redirects are not followed (a token endpoint has no business moving) and
  // other 4xx are not documented: treat both as a response we cannot use.
  return errc::bad_upstream_response;
}

namespace {

// A response that is not 2xx, classified, with what its body says.
failure failure_of(const raw_response& response, wall_time local_now, std::string_view key) {
  failure error;
  error.code = classify_status(response.status);
  error.message = status_sentence(error.code, response.status);
  const auto detail = error_detail(response.body, key);
  if (!detail.empty()) {
    error.message += ": " + detail;
  }
  if (error.code == errc::rate_limited || error.code == errc::upstream_unavailable) {
    error.retry_after = parse_retry_after(response.retry_after, local_now);
  }
  return error;
}

// The server's clock, when it says so and differs enough to matter, but not
// so much that it must be wrong: a Date of 1970 would otherwise keep a token
// for decades (SPEC §3).
void read_skew(const raw_response& response, wall_time local_now, token_grant& grant) {
  if (const auto server_now = parse_http_date(response.date)) {
    const auto skew = std::chrono::round<seconds>(*server_now - local_now);
    if (std::chrono::abs(skew) > max_believed_skew) {
      grant.ignored_skew = skew;
    } else if (std::chrono::abs(skew) >= skew_threshold) {
      grant.clock_skew = skew;
    }
  }
}

// When the token expires on our clock: the JWT's `exp`, or `expires_in` when
// it is earlier; nullopt when neither says (the caller's default applies).
std::variant<std::optional<wall_time>, failure> expiry_of(const nlohmann::json& answer,
                                                          const token_grant& grant) {
  const auto local_now = grant.obtained_at;
  std::optional<wall_time> expires_at;
  if (const auto exp = jwt_exp(grant.access_token); exp && *exp < max_unix_seconds) {
    // exp is on the server's clock: exp − server_now + local_now.
    expires_at = wall_time{seconds{std::max<std::int64_t>(*exp, 0)}} - grant.clock_skew;
    if (*expires_at <= local_now) {
      const auto ago = std::chrono::floor<seconds>(local_now - *expires_at).count();
      return failure{errc::bad_upstream_response,
                     "the auth server sent a token whose exp is already past (" +
                         std::to_string(ago) + " s ago on our clock)"};
    }
  }
  if (const auto it = answer.find("expires_in"); it != answer.end()) {
    const auto expires_in = as_seconds(*it);
    if (expires_in && *expires_in <= 0) {
      return failure{
          errc::bad_upstream_response,
          "the auth server sent expires_in " + std::to_string(*expires_in) + ", not a lifetime"};
    }
    if (expires_in && *expires_in <= max_lifetime_seconds) {
      const auto by_expires_in = local_now + seconds{*expires_in};
      if (!expires_at || by_expires_in < *expires_at) {
        expires_at = by_expires_in;
      }
    }
  }
  return expires_at;
}

}  // namespace

exchange_result interpret_response(const raw_response& response, wall_time local_now,
                                   seconds default_ttl, std::string_view key) {
  if (response.status < 200 || response.status > 299) {
    return failure_of(response, local_now, key);
  }
  const auto json = nlohmann::json::parse(response.body, nullptr, false);
  if (!json.is_object()) {
    return failure{errc::bad_upstream_response, "the auth server answered " +
                                                    std::to_string(response.status) +
                                                    " with a body that is not a JSON object"};
  }
  const auto token = json.find("access_token");
  if (token == json.end() || !token->is_string() || token->get_ref<const std::string&>().empty()) {
    return failure{errc::bad_upstream_response, "the auth server's answer has no access_token"};
  }
  if (auto problem = bearer_token_problem(token->get_ref<const std::string&>())) {
    return failure{errc::bad_upstream_response,
                   "the auth server's access_token " + std::move(*problem)};
  }

  token_grant grant;
  grant.access_token = token->get<std::string>();
  grant.obtained_at = local_now;
  read_skew(response, local_now, grant);
  auto expiry = expiry_of(json, grant);
  if (auto* refused = std::get_if<failure>(&expiry)) return std::move(*refused);
  const auto expires_at = std::get<std::optional<wall_time>>(expiry);
  grant.expires_at =
      std::min(expires_at.value_or(local_now + default_ttl), local_now + max_token_lifetime);
  return grant;
}

}  // namespace actoken::upstream
