#pragma once

/// @file
/// Human output: durations ("in 42m"), aligned tables, and colour that appears
/// only on a terminal and never when `NO_COLOR` is set (https://no-color.org).

#include "common/paths.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::client {

/// A compact duration: "42s", "42m", "1h 5m", "2d 3h" (at most two units, rounded down).
/// Zero or negative gives "0s".
std::string format_duration(std::int64_t seconds);

/// Time left on a token: "in 42m", "in 1h 5m", or "expired" when none is left.
std::string format_expires_in(std::int64_t seconds);

/// Terminal colours the CLI uses.
enum class colour { none, green, yellow, red, bold };

/// `text` wrapped in the ANSI sequence for `c` when `enabled`, else `text` as is.
std::string paint(std::string_view text, colour c, bool enabled);

/// True when output to `fd` may be coloured: `fd` is a terminal, `NO_COLOR` is unset
/// or empty, and `TERM` is not "dumb".
bool colour_enabled(int fd, const env_lookup& env);

/// One table cell: its text and how to colour it.
struct table_cell {
  std::string text;            ///< what is shown
  colour tint = colour::none;  ///< applied only when the table is coloured
};

/// Renders `rows` under `headers`, columns left-aligned and separated by two
/// spaces, one line per row, no trailing blanks. Widths count characters, not
/// bytes, and ignore colour, so alignment holds either way.
std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<table_cell>>& rows, bool coloured);

}  // namespace actoken::client
