#include "tests/stand_in/encoding.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace actoken::stand_in {
namespace {

constexpr std::string_view standard_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode(std::string_view data, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  // Each group of up to 3 bytes becomes up to 4 characters of 6 bits each.
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const std::size_t bytes = std::min<std::size_t>(3, data.size() - i);
    unsigned group = 0;
    for (std::size_t k = 0; k < 3; ++k) {
      group = group << 8 | (k < bytes ? static_cast<unsigned char>(data[i + k]) : 0U);
    }
    const std::size_t chars = bytes + 1;
    for (std::size_t k = 0; k < chars; ++k) {
      out += alphabet[group >> (18 - 6 * k) & 0x3f];
    }
    if (pad) {
      out.append(4 - chars, '=');
    }
  }
  return out;
}

}  // namespace

std::string base64_encode(std::string_view data) { return encode(data, standard_alphabet, true); }

std::string base64url_encode(std::string_view data) { return encode(data, url_alphabet, false); }

std::optional<std::string> base64url_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  unsigned bits = 0;
  int bit_count = 0;
  for (const char c : text) {
    const auto value = url_alphabet.find(c);
    if (value == std::string_view::npos) {
      return std::nullopt;
    }
    bits = (bits << 6 | static_cast<unsigned>(value)) & 0xffffff;
    bit_count += 6;
    if (bit_count >= 8) {
      bit_count -= 8;
      out += static_cast<char>(bits >> bit_count & 0xff);
    }
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    throw std::runtime_error("random_hex: RAND_bytes failed");
  }
  constexpr std::string_view digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (const unsigned char byte : random) {
    out += digits[byte >> 4];
    out += digits[byte & 0x0f];
  }
  return out;
}

}  // namespace actoken::stand_in
