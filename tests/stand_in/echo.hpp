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
};

/// Every encoding, for tests that try them all.
inline constexpr std::array<echo_encoding, 11> all_echo_encodings{
    echo_encoding::raw,           echo_encoding::percent_lower,
    echo_encoding::percent_upper, echo_encoding::plus,
    echo_encoding::json_slash,    echo_encoding::json_u,
    echo_encoding::json_u_lower,  echo_encoding::html_dec,
    echo_encoding::html_hex,      echo_encoding::html_hex_upper,
    echo_encoding::html_named};

/// The encoding's name in the control API: "raw", "percent_lower", ...
std::string_view to_string(echo_encoding value) noexcept;

/// Parses an encoding's name.
std::optional<echo_encoding> parse_echo_encoding(std::string_view name) noexcept;

/// True for the JSON encodings (their output is the inside of a JSON string).
bool is_json_escape(echo_encoding value) noexcept;

/// `key` as a server using `encoding` writes it.
std::string encode_echo(std::string_view key, echo_encoding encoding);

}  // namespace actoken::stand_in
