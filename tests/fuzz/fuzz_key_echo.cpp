// An auth server that echoes the key back in an error -> the auth codec
// (daemon/upstream/auth_codec.hpp, key_echo.hpp). The input is text, one
// field a line:
//
//   encoding wrapping status \n key \n text before \n text after...
//
// `encoding` is one of the stand-in's echo encodings (tests/stand_in/echo.hpp:
// raw, percent_lower, json_u, html_named, html_dec_zeros, base64_offset1,
// hex_upper, zero_width, invisible, ...), `wrapping` is `text` (the body is
// before + echo + after), `json` (the same as a JSON error_description),
// `quoted` (the echo inside a JSON request quoted in the description) or
// `split` (the same text cut in two, at a point the key's bytes pick, between
// `error` and `error_description`, or `error_description` and `message`), and
// `status` the HTTP status; other words pick one by their bytes. The key is
// the field with bytes outside base64 mapped into it, at least 20 characters,
// as real keys are (shorter ones are not searched for in full; see
// key_echo.hpp).
//
// Properties: the error message never holds the key in any of the encodings;
// it is in fact the status sentence and "upstream text withheld: it contained
// the key", because the body did hold it; it is one printable line.
// `echoes_key`, `unescape` and `without_invisible` never crash on the raw
// fields either, and neither of the last two lengthens its input.
#include "daemon/upstream/auth_codec.hpp"
#include "daemon/upstream/key_echo.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/stand_in/echo.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace actoken;
namespace stand_in = actoken::stand_in;

const wall_time local_now{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
constexpr std::size_t min_key_size = 20;
constexpr std::size_t max_key_size = 200;
constexpr std::array<unsigned, 8> statuses{400, 401, 403, 404, 429, 500, 503, 418};

enum class wrapping { text, json, quoted, split };

unsigned byte_sum(std::string_view word) {
  unsigned sum = 0;
  for (const char c : word) sum += static_cast<unsigned char>(c);
  return sum;
}

// The first line's three words, each a name or else picked by its bytes.
struct choice {
  stand_in::echo_encoding encoding = stand_in::echo_encoding::raw;
  wrapping wrap = wrapping::text;
  unsigned status = 401;
};

choice parse_choice(std::string_view line) {
  const auto [encoding_word, wrap_word, status_word] = [&] {
    std::array<std::string_view, 3> words{};
    for (auto& word : words) {
      const auto space = line.find(' ');
      word = line.substr(0, space);
      line = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    }
    return words;
  }();
  choice out;
  const auto named = stand_in::parse_echo_encoding(encoding_word);
  out.encoding = named ? *named
                       : stand_in::all_echo_encodings[byte_sum(encoding_word) %
                                                      stand_in::all_echo_encodings.size()];
  if (wrap_word == "text") {
    out.wrap = wrapping::text;
  } else if (wrap_word == "json") {
    out.wrap = wrapping::json;
  } else if (wrap_word == "quoted") {
    out.wrap = wrapping::quoted;
  } else if (wrap_word == "split") {
    out.wrap = wrapping::split;
  } else {
    out.wrap = static_cast<wrapping>(byte_sum(wrap_word) % 4);
  }
  unsigned status = 0;
  for (const char c : status_word) {
    if (c < '0' || c > '9' || status > 1000) {
      status = 0;
      break;
    }
    status = status * 10 + static_cast<unsigned>(c - '0');
  }
  out.status =
      (status >= 400 && status <= 599) ? status : statuses[byte_sum(status_word) % statuses.size()];
  return out;
}

// A key as Appcircle issues them (base64), made from the field's bytes.
std::string make_key(std::string_view field) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr std::string_view filler = "Kq7+xW/2mZ=pL9+Tr/4=";
  std::string key;
  for (const char c : field.substr(0, max_key_size)) {
    const bool base64 = alphabet.find(c) != std::string_view::npos || c == '=';
    key.push_back(base64 ? c : alphabet[static_cast<unsigned char>(c) % alphabet.size()]);
  }
  for (std::size_t i = 0; key.size() < min_key_size; ++i) key.push_back(filler[i]);
  return key;
}

std::string make_body(const choice& how, const std::string& key, std::string_view before,
                      std::string_view after) {
  const std::string echo = stand_in::encode_echo(key, how.encoding);
  const auto as_json = [](const std::string& description) {
    // Bytes that are not UTF-8 become U+FFFD, as a server's JSON library does.
    return nlohmann::json{{"error", "invalid_grant"}, {"error_description", description}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  const std::string around = std::string(before) + echo + std::string(after);
  // The two fields a split text goes into: the key's bytes pick where it is cut.
  const auto split_fields = [&](const char* first, const char* second) {
    // A server splits characters, not bytes: never inside a UTF-8 sequence.
    auto cut = before.size() + byte_sum(key) % (echo.size() + 1);
    while (cut < around.size() && (static_cast<unsigned char>(around[cut]) & 0xC0U) == 0x80U) ++cut;
    return nlohmann::json{{first, around.substr(0, cut)}, {second, around.substr(cut)}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  switch (how.wrap) {
    case wrapping::text:
      return around;
    case wrapping::json:
      return as_json(around);
    case wrapping::quoted:
      return as_json(std::string(before) + R"({"personalAccessKey":")" + echo + R"("})" +
                     std::string(after));
    case wrapping::split:
      return key.size() % 2 == 0 ? split_fields("error", "error_description")
                                 : split_fields("error_description", "message");
  }
  return around;
}

void check_output(const std::string& message, const std::string& key, unsigned status) {
  for (const char c : message) {
    ACTOKEN_FUZZ_CHECK(c >= 0x20 && c < 0x7f, "an error message that is not one printable line");
  }
  for (const auto encoding : stand_in::all_echo_encodings) {
    ACTOKEN_FUZZ_CHECK(message.find(stand_in::encode_echo(key, encoding)) == std::string::npos,
                       "an error message holds the key in one of the echo encodings");
  }
  ACTOKEN_FUZZ_CHECK(message.ends_with(": " + std::string(upstream::withheld_detail)),
                     "an echo of the key was not withheld");
  ACTOKEN_FUZZ_CHECK(message.find(std::to_string(status)) != std::string::npos,
                     "the status sentence is gone");
}

void check_decoders(std::string_view text, std::string_view key) {
  (void)upstream::echoes_key(text, key);
  const auto visible = upstream::without_invisible(text);
  ACTOKEN_FUZZ_CHECK(!visible || visible->size() < text.size(),
                     "without_invisible removed nothing yet answered, or lengthened its input");
  for (const auto kind : {upstream::escape_kind::percent, upstream::escape_kind::json,
                          upstream::escape_kind::html, upstream::escape_kind::all}) {
    const auto out = upstream::unescape(text, kind);
    ACTOKEN_FUZZ_CHECK(!out || out->size() <= text.size(), "unescape lengthened its input");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto [first_line, key_field, before, after] =
      fuzz::split_fields<4>({reinterpret_cast<const char*>(data), size});
  try {
    const auto how = parse_choice(first_line);
    const auto key = make_key(key_field);
    const auto body = make_body(how, key, before, after);
    const auto result =
        upstream::interpret_response({how.status, body, "", ""}, local_now, seconds{600}, key);
    const auto* error = std::get_if<failure>(&result);
    ACTOKEN_FUZZ_CHECK(error != nullptr, "an error status gave a token");
    check_output(error->message, key, how.status);

    check_decoders(body, key);
    check_decoders(after, key_field);
  } catch (const std::exception& e) {
    fuzz::fail(__FILE__, __LINE__, "the auth codec threw", e.what());
  }
  return 0;
}
