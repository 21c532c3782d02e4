#include "common/shell_env.hpp"

#include <algorithm>

namespace actoken {
namespace {

// Characters no shell gives a meaning to, so a word made only of them needs no
// quotes (ssh-agent prints its socket paths bare; so do we when we can).
bool plain_character(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' ||
         c == '.' || c == '_' || c == '-' || c == '+' || c == ',' || c == ':' || c == '@';
}

}  // namespace

shell_syntax shell_from_path(std::string_view shell_path) {
  const auto slash = shell_path.rfind('/');
  const auto name = slash == std::string_view::npos ? shell_path : shell_path.substr(slash + 1);
  if (name == "csh" || name == "tcsh") {
    return shell_syntax::csh;
  }
  if (name == "fish") {
    return shell_syntax::fish;
  }
  return shell_syntax::sh;
}

std::optional<std::string> shell_quote(std::string_view value, shell_syntax syntax) {
  const bool control = std::any_of(value.begin(), value.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (control) {
    return std::nullopt;
  }
  if (!value.empty() && std::all_of(value.begin(), value.end(), plain_character)) {
    return std::string(value);
  }
  // Inside single quotes: sh gives no character a meaning but `'` itself (closed,
  // escaped, reopened); fish gives `\'` and `\\` theirs; csh still expands `!`
  // (history) unless escaped, and takes `'\''` as sh does.
  std::string quoted = "'";
  for (const char c : value) {
    if (c == '\'') {
      quoted += syntax == shell_syntax::fish ? "\\'" : "'\\''";
    } else if (c == '\\' && syntax == shell_syntax::fish) {
      quoted += "\\\\";
    } else if (c == '!' && syntax == shell_syntax::csh) {
      quoted += "\\!";
    } else {
      quoted += c;
    }
  }
  quoted += '\'';
  return quoted;
}

std::optional<std::string> socket_env_line(std::string_view socket, shell_syntax syntax) {
  const auto quoted = shell_quote(socket, syntax);
  if (!quoted) {
    return std::nullopt;
  }
  switch (syntax) {
    case shell_syntax::csh:
      return "setenv ACTOKEN_SOCKET " + *quoted + ";\n";
    case shell_syntax::fish:
      return "set -gx ACTOKEN_SOCKET " + *quoted + ";\n";
    case shell_syntax::sh:
      break;
  }
  return "ACTOKEN_SOCKET=" + *quoted + "; export ACTOKEN_SOCKET;\n";
}

}  // namespace actoken
