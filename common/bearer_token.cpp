#include "common/bearer_token.hpp"

namespace actoken {

namespace {

bool is_b64token_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

}  // namespace

std::optional<std::string> bearer_token_problem(std::string_view token) {
  if (token.empty()) return "is empty";
  if (token.size() > max_bearer_token_size) {
    return "is longer than " + std::to_string(max_bearer_token_size) + " characters (" +
           std::to_string(token.size()) + ")";
  }
  for (std::size_t i = 0; i < token.size(); ++i) {
    if (!is_b64token_char(token[i])) {
      static constexpr std::string_view hex = "0123456789ABCDEF";
      const auto u = static_cast<unsigned char>(token[i]);
      return std::string("has a byte outside A-Z a-z 0-9 - . _ ~ + / = (0x") + hex[u >> 4U] +
             hex[u & 0x0FU] + " at offset " + std::to_string(i) + ")";
    }
  }
  return std::nullopt;
}

}  // namespace actoken
