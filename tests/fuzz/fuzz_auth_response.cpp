// What the auth server sends back -> the auth codec (daemon/upstream/
// auth_codec.hpp). The input is text, one field a line:
//
//   status \n Date header \n Retry-After header \n the access key \n body...
//
// Properties: nothing crashes, throws or overflows (UBSan); an error is
// classified as classify_status says and its message is one printable line
// that never carries the key (raw or form-encoded) when the key looks like a
// real one; a Retry-After is within 0..86400 s; a grant has a token, was
// obtained now, and a clock skew of 0 or at least 2 s; a form body built from
// the fields holds only unreserved characters, '%', '&' and '='.
#include "daemon/upstream/auth_codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace actoken;
using namespace std::chrono_literals;

// 2026-01-01T00:00:00Z, the local clock of every run.
const wall_time local_now{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
constexpr seconds default_ttl{600};

// A key as Appcircle issues them: long, base64. Shorter or other keys are
// still fed to the codec, but only such a key cannot appear in the codec's own
// wording by chance, so only then is "the message never carries the key" a
// property.
bool looks_like_key(std::string_view key) {
  if (key.size() < 16) return false;
  for (const char c : key) {
    const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
    if (!base64) return false;
  }
  return true;
}

unsigned parse_status(std::string_view text) {
  unsigned status = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), status);
  if (ec != std::errc() || end != text.data() + text.size()) return 0;
  return status;
}

void check_retry_after(const std::optional<seconds>& delay) {
  ACTOKEN_FUZZ_CHECK(!delay || (delay->count() >= 0 && delay->count() <= 86400),
                     "a Retry-After outside 0..86400 s");
}

void check(const upstream::raw_response& response, std::string_view key) {
  const auto result = upstream::interpret_response(response, local_now, default_ttl, key);
  if (const auto* error = std::get_if<failure>(&result)) {
    if (response.status < 200 || response.status > 299) {
      ACTOKEN_FUZZ_CHECK(error->code == upstream::classify_status(response.status),
                         "an error classified unlike classify_status");
    } else {
      ACTOKEN_FUZZ_CHECK(error->code == errc::bad_upstream_response,
                         "a 2xx failure other than bad_upstream_response");
    }
    ACTOKEN_FUZZ_CHECK(!error->message.empty(), "an empty error message");
    for (const char c : error->message) {
      ACTOKEN_FUZZ_CHECK(c >= 0x20 && c < 0x7f, "an error message that is not one printable line");
    }
    if (looks_like_key(key)) {
      ACTOKEN_FUZZ_CHECK(error->message.find(key) == std::string::npos,
                         "an error message carries the key");
      platform::secure_buffer encoded;
      upstream::form_encode(key, encoded);
      ACTOKEN_FUZZ_CHECK(error->message.find(encoded.view()) == std::string::npos,
                         "an error message carries the form-encoded key");
    }
    check_retry_after(error->retry_after);
    ACTOKEN_FUZZ_CHECK(!error->retry_after || error->code == errc::rate_limited ||
                           error->code == errc::upstream_unavailable,
                       "a Retry-After on an error that is not 429/5xx");
    return;
  }
  const auto& grant = std::get<upstream::token_grant>(result);
  ACTOKEN_FUZZ_CHECK(response.status >= 200 && response.status <= 299, "a grant from a non-2xx");
  ACTOKEN_FUZZ_CHECK(!grant.access_token.empty(), "a grant without a token");
  ACTOKEN_FUZZ_CHECK(grant.obtained_at == local_now, "a grant not obtained now");
  ACTOKEN_FUZZ_CHECK(grant.clock_skew == 0s || grant.clock_skew >= 2s || grant.clock_skew <= -2s,
                     "a clock skew under the 2 s threshold");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [status, date, retry_after, key, body] =
      fuzz::split_fields<5>({reinterpret_cast<const char*>(data), size});
  try {
    upstream::raw_response response;
    response.status = parse_status(status);
    response.date = std::string(date);
    response.retry_after = std::string(retry_after);
    response.body = std::string(body);
    check(response, key);

    // The pieces alone, as the client and the tests call them.
    (void)upstream::jwt_exp(body);
    (void)upstream::parse_http_date(date);
    check_retry_after(upstream::parse_retry_after(retry_after, local_now));
    check_retry_after(upstream::parse_retry_after(date, local_now));
    (void)upstream::classify_status(response.status);
    for (const auto version :
         {upstream::api_version::v1, upstream::api_version::v2, upstream::api_version::v3}) {
      const auto form = upstream::build_form_body({version, key, date, retry_after});
      for (const char c : form.view()) {
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                             c == '~' || c == '%' || c == '&' || c == '=';
        ACTOKEN_FUZZ_CHECK(allowed, "a form body with an unescaped character");
      }
    }
  } catch (const std::exception& e) {
    fuzz::fail(__FILE__, __LINE__, "the auth codec threw", e.what());
  }
  return 0;
}
