#include "daemon/api/key_request.hpp"

#include "common/json_cursor.hpp"
#include "common/text.hpp"
#include "daemon/upstream/url.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace actoken::api {
namespace {

const std::string not_json = "the body is not valid JSON";

// ASCII controls and space, DEL, and the C1 controls (U+0080..U+009F, which
// UTF-8 writes as C2 80..C2 9F): none belongs inside a key.
bool has_space_or_control(std::string_view key) noexcept {
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c <= 0x20 || c == 0x7F) return true;
    if (c == 0xC2 && i + 1 < key.size() && static_cast<unsigned char>(key[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return false;
}

// A field name fit to quote in a reason: short, letters, digits and '_' (a
// name could be anything the client sent, a pasted key included).
std::string quoted_name(const std::string& name) {
  const bool plain = !name.empty() && name.size() <= 32 &&
                     name.find_first_not_of(
                         "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos;
  return plain ? name : "(a field name not shown)";
}

// Reads the value of "key" into `out.key`, trimmed of surrounding white space.
std::optional<std::string> read_key(json_cursor& in, key_request& out, std::size_t capacity) {
  if (in.peek() != '"') return "key must be a string";
  platform::secure_buffer raw;
  raw.reserve(capacity);  // decoding never grows it: no copy is left behind
  if (!in.read_string(raw)) return not_json;
  const auto text = trim(raw.view());
  if (text.empty()) return "the key is empty";
  if (has_space_or_control(text)) {
    return "the key has white space or a control character inside (check what was pasted)";
  }
  out.key.reserve(text.size());
  out.key.append(text);
  return std::nullopt;
}

std::optional<std::string> read_auth_url(json_cursor& in, key_request& out,
                                         std::size_t /*capacity*/) {
  std::string url;
  if (in.peek() != '"') return "auth_url must be a string";
  if (!in.read_string(url)) return not_json;
  auto server = upstream::parse_auth_url(url);  // the rule the config's auth_url follows
  if (!server) return "auth_url must be an https:// URL";
  out.auth_url = std::move(server->text);
  return std::nullopt;
}

std::optional<std::string> read_api_version(json_cursor& in, key_request& out,
                                            std::size_t /*capacity*/) {
  std::string text;
  if (in.peek() != '"' || !in.read_string(text) ||
      !(out.api_version = upstream::parse_api_version(text))) {
    return R"(api_version must be "v1", "v2", "v3" or "auto")";
  }
  return std::nullopt;
}

// `true` or `false` into `out`; the reason names `field` otherwise.
std::optional<std::string> read_bool(json_cursor& in, bool& out, std::string_view field) {
  if (in.consume("true")) {
    out = true;
  } else if (in.consume("false")) {
    out = false;
  } else {
    return std::string(field) + " must be true or false";
  }
  return std::nullopt;
}

std::optional<std::string> read_persist(json_cursor& in, key_request& out,
                                        std::size_t /*capacity*/) {
  return read_bool(in, out.persist, "persist");
}

std::optional<std::string> read_verify(json_cursor& in, key_request& out,
                                       std::size_t /*capacity*/) {
  return read_bool(in, out.verify, "verify");
}

// The fields a key PUT may carry and how each is read; `capacity` is the
// body's size, enough for any string in it.
using field_reader = std::optional<std::string> (*)(json_cursor& in, key_request& out,
                                                    std::size_t capacity);
struct field {
  std::string_view name;
  field_reader read;
};
constexpr std::array<field, 5> fields{{{"key", read_key},
                                       {"auth_url", read_auth_url},
                                       {"api_version", read_api_version},
                                       {"persist", read_persist},
                                       {"verify", read_verify}}};

}  // namespace

std::variant<key_request, std::string> parse_key_request(std::string_view body) {
  json_cursor in(body);
  key_request out;
  in.skip_space();
  if (!in.consume('{')) return std::string("the body must be a JSON object with a key");
  in.skip_space();
  std::array<bool, fields.size()> seen{};
  if (!in.consume('}')) {
    for (;;) {
      in.skip_space();
      std::string name;
      if (!in.read_string(name)) return not_json;
      in.skip_space();
      if (!in.consume(':')) return not_json;
      in.skip_space();
      const auto* it = std::find_if(fields.begin(), fields.end(),
                                    [&](const field& f) { return f.name == name; });
      if (it == fields.end()) return "unexpected field: " + quoted_name(name);
      auto& given = seen[static_cast<std::size_t>(it - fields.begin())];
      if (given) return name + " is given twice";
      given = true;
      const auto problem = it->read(in, out, body.size());
      if (problem) return *problem;
      in.skip_space();
      if (in.consume(',')) continue;
      if (in.consume('}')) break;
      return not_json;
    }
  }
  in.skip_space();
  if (!in.at_end()) return not_json;
  if (!seen[0]) return std::string("the body has no key");
  return out;
}

}  // namespace actoken::api
