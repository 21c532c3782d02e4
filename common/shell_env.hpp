#pragma once

/// @file
/// The line that sets ACTOKEN_SOCKET, in the syntax of sh, csh or fish, as
/// `ssh-agent -s`/`-c` prints SSH_AUTH_SOCK: printed by `actoken env` (SPEC §5)
/// and by `actokend --detach` (SPEC §2), which must agree to the byte. Pure: a
/// path and a shell in, a line out, quoted so that `eval` gives back the path
/// exactly.

#include <optional>
#include <string>
#include <string_view>

namespace actoken {

/// The syntax of a shell line (`--shell sh|csh|fish`), as `ssh-agent -s` / `-c` and fish.
enum class shell_syntax { sh, csh, fish };

/// The syntax for a login shell path like `$SHELL`, as ssh-agent picks it: a base
/// name of `csh` or `tcsh` gives csh, `fish` gives fish, anything else (or none) sh.
shell_syntax shell_from_path(std::string_view shell_path);

/// `value` as one word of `syntax`, quoted only when it needs to be: single quotes,
/// with `'` (and in fish `\`, in csh `!`) escaped. Nullopt for a value with a
/// control character, which not every shell can quote.
std::optional<std::string> shell_quote(std::string_view value, shell_syntax syntax);

/// The line for `socket`, newline included: `ACTOKEN_SOCKET=P; export ACTOKEN_SOCKET;`,
/// `setenv ACTOKEN_SOCKET P;` or `set -gx ACTOKEN_SOCKET P;`. Nullopt when the path
/// cannot be quoted (see shell_quote).
std::optional<std::string> socket_env_line(std::string_view socket, shell_syntax syntax);

}  // namespace actoken
