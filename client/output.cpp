#include "client/output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace actoken::client {
namespace {

// Characters on screen: UTF-8 continuation bytes do not count.
std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
  }));
}

std::string_view ansi_code(colour c) {
  switch (c) {
    case colour::green:
      return "\x1b[32m";
    case colour::yellow:
      return "\x1b[33m";
    case colour::red:
      return "\x1b[31m";
    case colour::bold:
      return "\x1b[1m";
    case colour::none:
      break;
  }
  return "";
}

}  // namespace

std::string format_duration(std::int64_t seconds) {
  if (seconds <= 0) {
    return "0s";
  }
  constexpr std::int64_t minute = 60;
  constexpr std::int64_t hour = 60 * minute;
  constexpr std::int64_t day = 24 * hour;
  const auto pair = [](std::int64_t major, char major_unit, std::int64_t minor, char minor_unit) {
    std::string text = std::to_string(major) + major_unit;
    if (minor > 0) {
      text += ' ' + std::to_string(minor) + minor_unit;
    }
    return text;
  };
  if (seconds < minute) {
    return std::to_string(seconds) + 's';
  }
  if (seconds < hour) {
    return std::to_string(seconds / minute) + 'm';
  }
  if (seconds < day) {
    return pair(seconds / hour, 'h', (seconds % hour) / minute, 'm');
  }
  return pair(seconds / day, 'd', (seconds % day) / hour, 'h');
}

std::string format_expires_in(std::int64_t seconds) {
  if (seconds <= 0) {
    return "expired";
  }
  return "in " + format_duration(seconds);
}

std::string paint(std::string_view text, colour c, bool enabled) {
  if (!enabled || c == colour::none) {
    return std::string(text);
  }
  std::string out(ansi_code(c));
  out.append(text).append("\x1b[0m");
  return out;
}

bool colour_enabled(int fd, const env_lookup& env) {
  if (const char* no_color = env("NO_COLOR"); no_color != nullptr && *no_color != '\0') {
    return false;
  }
  if (const char* term = env("TERM"); term != nullptr && std::strcmp(term, "dumb") == 0) {
    return false;
  }
  return ::isatty(fd) == 1;
}

std::string format_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<table_cell>>& rows, bool coloured) {
  std::vector<std::size_t> widths(headers.size(), 0);
  for (std::size_t column = 0; column < headers.size(); ++column) {
    widths[column] = display_width(headers[column]);
  }
  for (const auto& row : rows) {
    for (std::size_t column = 0; column < row.size() && column < widths.size(); ++column) {
      widths[column] = std::max(widths[column], display_width(row[column].text));
    }
  }

  std::string out;
  const auto emit_line = [&](const std::vector<table_cell>& cells) {
    // The last non-empty cell ends the line, so no line carries trailing blanks.
    std::size_t last = cells.size() < widths.size() ? cells.size() : widths.size();
    while (last > 0 && cells[last - 1].text.empty()) {
      --last;
    }
    for (std::size_t column = 0; column < last; ++column) {
      const auto& cell = cells[column];
      out += paint(cell.text, cell.tint, coloured);
      if (column + 1 < last) {
        out.append(widths[column] - display_width(cell.text) + 2, ' ');
      }
    }
    out.push_back('\n');
  };

  std::vector<table_cell> header_cells;
  header_cells.reserve(headers.size());
  for (const auto& header : headers) {
    header_cells.push_back({header, colour::bold});
  }
  emit_line(header_cells);
  for (const auto& row : rows) {
    emit_line(row);
  }
  return out;
}

}  // namespace actoken::client
