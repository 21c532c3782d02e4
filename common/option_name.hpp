#pragma once

/// @file
/// What a usage error may repeat of an unknown option or command (SPEC §5: a usage error
/// never echoes the value given, which may be a pasted key). Shared by actoken
/// and actokend, so both draw the line in the same place.

#include <optional>
#include <string_view>

namespace actoken {

/// The name of the option `arg` spells, when it looks like one of ours and
/// nothing like a secret: `-x` (one letter), or `--` and a lower-case letter
/// followed by at most 23 lower-case letters, digits or dashes; of
/// `--name=value` only `--name` is considered. Anything else (a key, a path)
/// gives nullopt and must not be printed.
std::optional<std::string_view> printable_option_name(std::string_view arg) noexcept;

/// `word` when it looks like a mistyped command name and nothing like a secret:
/// a lower-case letter followed by at most 23 lower-case letters, digits or
/// dashes (`tokn`, `appcircle-confg`). Anything else gives nullopt and must not
/// be printed.
std::optional<std::string_view> printable_command_name(std::string_view word) noexcept;

}  // namespace actoken
