#pragma once

/// @file
/// Small encodings the stand-in needs: base64 (proxy Basic auth), base64url
/// (JWT segments) and random hex identifiers.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::stand_in {

/// Standard base64 with `=` padding (RFC 4648 §4).
std::string base64_encode(std::string_view data);

/// base64url without padding (RFC 4648 §5), as JWTs use it.
std::string base64url_encode(std::string_view data);

/// Decodes base64url, with or without padding; nothing for invalid input.
std::optional<std::string> base64url_decode(std::string_view text);

/// `bytes` bytes from OpenSSL's CSPRNG, as lower-case hex.
std::string random_hex(std::size_t bytes);

}  // namespace actoken::stand_in
