#pragma once

/// @file
/// The ways a careless auth server might echo a key back in an error (issue
/// 10, SPEC §6 "Secrets"): what the stand-in's `echo_key` knob sends, and
/// what tests and fuzz targets search the daemon's output for. Pure.

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace actoken::stand_in {

/// One way of writing a key into an error body.
enum class echo_encoding {
  raw,             ///< as is
  percent_lower,   ///< every byte but A-Z a-z 0-9 - . _ ~ as `%2b`
  percent_upper,   ///< the same as `%2B` (form encoding)
  plus,            ///< as a form decoder shows it: each `+` a space
  json_slash,      ///< a JSON string escaped as PHP does: `\/`, `\"`, `\\`
  json_u,          ///< a JSON string with every byte but A-Z a-z 0-9 as `\u002B`
  json_u_lower,    ///< the same as `\u002b`
  html_dec,        ///< every byte but A-Z a-z 0-9 as `&#43;`
  html_hex,        ///< the same as `&#x2b;`
  html_hex_upper,  ///< the same as `&#X2B;`
  html_named,      ///< `&plus;` `&sol;` `&equals;` `&amp;` ..., other bytes as is
  html_dec_zeros,  ///< every byte as `&#00000000101;`: leading zeros, any number
  html_hex_zeros,  ///< every byte as `&#x0000000065;`
  base64,          ///< the key's base64, padded (RFC 4648 §4)
  base64url,       ///< URL-safe and unpadded (§5)
  base64_offset1,  ///< the base64 of one byte and the key: the key inside a longer base64 text
  base64_offset2,  ///< the same after two bytes: the third alignment a key can have
  hex_lower,       ///< every byte as two hex digits, `2b`
  hex_upper,       ///< the same as `2B`
  zero_width,      ///< a zero-width space (U+200B) between every two characters
  invisible,       ///< U+2060, U+FEFF, U+200E, U+202E, U+00AD, U+0085 in turn between them
  split,           ///< as is, its first half in `error` and the rest in `error_description`
};

/// Every encoding, for tests that try them all.
inline constexpr std::array<echo_encoding, 22> all_echo_encodings{echo_encoding::raw,
                                                                  echo_encoding::percent_lower,
                                                                  echo_encoding::percent_upper,
                                                                  echo_encoding::plus,
                                                                  echo_encoding::json_slash,
                                                                  echo_encoding::json_u,
                                                                  echo_encoding::json_u_lower,
                                                                  echo_encoding::html_dec,
                                                                  echo_encoding::html_hex,
                                                                  echo_encoding::html_hex_upper,
                                                                  echo_encoding::html_named,
                                                                  echo_encoding::html_dec_zeros,
                                                                  echo_encoding::html_hex_zeros,
                                                                  echo_encoding::base64,
                                                                  echo_encoding::base64url,
                                                                  echo_encoding::base64_offset1,
                                                                  echo_encoding::base64_offset2,
                                                                  echo_encoding::hex_lower,
                                                                  echo_encoding::hex_upper,
                                                                  echo_encoding::zero_width,
                                                                  echo_encoding::invisible,
                                                                  echo_encoding::split};

/// The encoding's name in the control API: "raw", "percent_lower", ...
std::string_view to_string(echo_encoding value) noexcept;

/// Parses an encoding's name.
std::optional<echo_encoding> parse_echo_encoding(std::string_view name) noexcept;

/// True for the JSON encodings (their output is the inside of a JSON string).
bool is_json_escape(echo_encoding value) noexcept;

/// True for the HTML encodings (a server sends them in an HTML page).
bool is_html_escape(echo_encoding value) noexcept;

/// `key` as a server using `encoding` writes it (`split`: the key as is; the
/// stand-in splits it between two fields).
std::string encode_echo(std::string_view key, echo_encoding encoding);

/// Where `split` cuts an echo of `size` bytes: its middle.
inline std::size_t split_point(std::size_t size) noexcept { return size / 2; }

}  // namespace actoken::stand_in
