#include "common/percent_encoding.hpp"

namespace actoken {
namespace {

std::optional<std::string> decoded(std::string_view text, plus_sign plus) {
  std::string out;
  out.reserve(text.size());
  if (!percent_decode_into(text, out, plus)) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text) {
  return decoded(text, plus_sign::literal);
}

std::optional<std::string> form_decode(std::string_view text) {
  return decoded(text, plus_sign::space);
}

}  // namespace actoken
