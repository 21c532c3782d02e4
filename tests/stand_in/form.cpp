#include "tests/stand_in/form.hpp"

#include <algorithm>
#include <cctype>

namespace actoken::stand_in {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::optional<std::string> decode_component(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      if (i + 2 >= text.size()) {  // "%" or "%A" at the end
        return std::nullopt;
      }
      const int high = hex_digit(text[i + 1]);
      const int low = hex_digit(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) {
    return {};
  }
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

std::optional<form_fields> decode_form(std::string_view body) {
  form_fields fields;
  while (!body.empty()) {
    const auto end = body.find('&');
    const std::string_view pair = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view{} : body.substr(end + 1);
    if (pair.empty()) {
      continue;  // "a=1&&b=2": empty sequences are skipped, as browsers do
    }
    const auto equals = pair.find('=');
    auto name = decode_component(pair.substr(0, equals));
    auto value = decode_component(equals == std::string_view::npos ? std::string_view{}
                                                                   : pair.substr(equals + 1));
    if (!name || !value || fields.contains(*name)) {
      return std::nullopt;
    }
    fields.emplace(std::move(*name), std::move(*value));
  }
  return fields;
}

bool is_form_content_type(std::string_view content_type) {
  constexpr std::string_view expected = "application/x-www-form-urlencoded";
  const std::string_view media_type = trim(content_type.substr(0, content_type.find(';')));
  return std::equal(
      media_type.begin(), media_type.end(), expected.begin(), expected.end(),
      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

}  // namespace actoken::stand_in
