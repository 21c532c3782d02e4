#include "common/json_text.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <time.h>

#include <random>

using namespace actoken;
using namespace std::chrono;

namespace {

std::string json_literal(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

// The reference: gmtime_r and strftime.
std::string reference_rfc3339(system_clock::time_point t) {
  const auto tt = system_clock::to_time_t(floor<seconds>(t));
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buffer[32];
  return {buffer, std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm)};
}

}  // namespace

TEST_CASE("JSON strings: escapes, and UTF-8 kept when well-formed, replaced when not") {
  CHECK(json_literal("") == R"("")");
  CHECK(json_literal("eyJhbGciOi.J9-_x") == R"("eyJhbGciOi.J9-_x")");
  CHECK(json_literal("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_literal(std::string_view("\n\x01\x7f\0", 4)) == R"("\u000a\u0001\u007f\u0000")");
  CHECK(json_literal("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91\"");
  CHECK(json_literal("\xff") == R"("\ufffd")");
  CHECK(json_literal("\xc0\x80") == R"("\ufffd\ufffd")");                      // overlong NUL
  CHECK(json_literal("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");            // a surrogate
  CHECK(json_literal("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
  CHECK(json_literal("ok\xe2\x82") == R"("ok\ufffd\ufffd")");                  // cut short
}

TEST_CASE("JSON strings: any bytes give valid JSON that decodes to the text when it was UTF-8") {
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(random() % 40, '\0');
    for (auto& c : bytes)
      c = static_cast<char>(random() % 4 == 0 ? random() : 0x20 + random() % 0x60);
    const auto text = json_literal(bytes);
    const auto parsed = nlohmann::json::parse(text, nullptr, false);
    REQUIRE_MESSAGE(!parsed.is_discarded(), text);
    bool utf8 = true;  // nlohmann's dump refuses text that is not UTF-8
    try {
      (void)nlohmann::json(bytes).dump();
    } catch (const nlohmann::json::type_error&) {
      utf8 = false;
    }
    if (utf8) CHECK(parsed.get<std::string>() == bytes);
    if (!utf8) CHECK(text.find("\\ufffd") != std::string::npos);
  }
}

TEST_CASE("RFC 3339 matches gmtime_r and strftime") {
  CHECK(rfc3339(system_clock::time_point{}) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339(sys_days{2024y / February / 29} + 23h + 59min + 59s + 999ms) ==
        "2024-02-29T23:59:59Z");
  std::mt19937_64 random(11);
  for (int round = 0; round < 5000; ++round) {
    const system_clock::time_point t{seconds{static_cast<long long>(random() % 8'000'000'000ULL)}};
    REQUIRE(rfc3339(t) == reference_rfc3339(t));
  }
}
