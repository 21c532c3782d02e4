#pragma once

/// @file
/// The one base64 (STYLE 20), RFC 4648: padded standard base64 (§4) for the
/// cache file's binary fields and HTTP Basic credentials, and base64url (§5)
/// as JWTs carry it. Written over an output type so that a secret (a proxy
/// password) is encoded straight into locked memory.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace actoken {

namespace detail {
inline constexpr std::string_view base64_digits =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace detail

/// Appends `bytes` in padded base64 (RFC 4648 §4) to `out` (a std::string,
/// or anything with `push_back(char)`).
template <class Output>
void append_base64(std::string_view bytes, Output& out) {
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t n = bytes.size() - i < 3 ? bytes.size() - i : 3;
    std::uint32_t group = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16U;
    if (n > 1) group |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8U;
    if (n > 2) group |= static_cast<unsigned char>(bytes[i + 2]);
    for (std::size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? detail::base64_digits[(group >> (18 - 6 * k)) & 0x3FU] : '=');
    }
  }
}

/// `bytes` in padded base64 (RFC 4648 §4).
std::string base64_encode(std::string_view bytes);

/// Decodes padded base64 (RFC 4648 §4) strictly: a length that is a multiple
/// of four, `=` only as the last one or two characters, nothing outside the
/// alphabet. nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view text);

/// Decodes base64url (RFC 4648 §5) as a JWT's segments carry it (RFC 7515:
/// unpadded), leniently, as a token's holder reads its own token: padding is
/// allowed and ends the data, and the standard alphabet's `+` and `/` are
/// read too. nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace actoken
