// The ACTOKEN_SOCKET line of `actoken env` and `actokend --detach`, for sh, csh and
// fish (SPEC §2, §5). That each shell reads it back exactly is shown with the real shells in
// tests/integration/test_cli_daily.cpp.
#include "common/shell_env.hpp"

#include <doctest/doctest.h>

#include <string>

using actoken::shell_from_path;
using actoken::shell_quote;
using actoken::shell_syntax;
using actoken::socket_env_line;

TEST_CASE("the shell comes from $SHELL's base name, as ssh-agent picks it") {
  CHECK(shell_from_path("/bin/csh") == shell_syntax::csh);
  CHECK(shell_from_path("/usr/bin/tcsh") == shell_syntax::csh);
  CHECK(shell_from_path("/usr/bin/fish") == shell_syntax::fish);
  CHECK(shell_from_path("fish") == shell_syntax::fish);
  CHECK(shell_from_path("/bin/bash") == shell_syntax::sh);
  CHECK(shell_from_path("/usr/bin/zsh") == shell_syntax::sh);
  CHECK(shell_from_path("/bin/sh") == shell_syntax::sh);
  CHECK(shell_from_path("") == shell_syntax::sh);
  CHECK(shell_from_path("/opt/fish/bin/fishy") == shell_syntax::sh);
  CHECK(shell_from_path("/home/csh/bin/bash") == shell_syntax::sh);
}

TEST_CASE("the lines look like ssh-agent's for a plain path") {
  const std::string path = "/run/user/1000/actoken/actokend.sock";
  CHECK(socket_env_line(path, shell_syntax::sh) ==
        "ACTOKEN_SOCKET=/run/user/1000/actoken/actokend.sock; export ACTOKEN_SOCKET;\n");
  CHECK(socket_env_line(path, shell_syntax::csh) ==
        "setenv ACTOKEN_SOCKET /run/user/1000/actoken/actokend.sock;\n");
  CHECK(socket_env_line(path, shell_syntax::fish) ==
        "set -gx ACTOKEN_SOCKET /run/user/1000/actoken/actokend.sock;\n");
}

TEST_CASE("special characters are quoted for each shell") {
  // Anything beyond letters, digits and / . _ - + , : @ is single-quoted.
  CHECK(shell_quote("/a b/s", shell_syntax::sh) == "'/a b/s'");
  CHECK(shell_quote("/a$b`c`*?;&|<>(){}[]~#\"\\/s", shell_syntax::sh) ==
        "'/a$b`c`*?;&|<>(){}[]~#\"\\/s'");
  CHECK(shell_quote("", shell_syntax::sh) == "''");
  // A quote: closed, escaped and reopened in sh and csh; backslash-escaped in fish.
  CHECK(shell_quote("/it's", shell_syntax::sh) == "'/it'\\''s'");
  CHECK(shell_quote("/it's", shell_syntax::csh) == "'/it'\\''s'");
  CHECK(shell_quote("/it's", shell_syntax::fish) == "'/it\\'s'");
  // fish reads \\ inside single quotes as one backslash; sh and csh keep it as is.
  CHECK(shell_quote("/a\\b", shell_syntax::fish) == "'/a\\\\b'");
  CHECK(shell_quote("/a\\b", shell_syntax::sh) == "'/a\\b'");
  CHECK(shell_quote("/a\\b", shell_syntax::csh) == "'/a\\b'");
  // csh expands history (!) even inside single quotes.
  CHECK(shell_quote("/a!b", shell_syntax::csh) == "'/a\\!b'");
  CHECK(shell_quote("/a!b", shell_syntax::sh) == "'/a!b'");
  CHECK(shell_quote("/a!b", shell_syntax::fish) == "'/a!b'");
  // UTF-8 is kept as is, quoted.
  CHECK(shell_quote("/tmp/\xc3\xbc.sock", shell_syntax::sh) == "'/tmp/\xc3\xbc.sock'");
}

TEST_CASE("a path with a control character is refused, not half-quoted") {
  for (const auto syntax : {shell_syntax::sh, shell_syntax::csh, shell_syntax::fish}) {
    CHECK_FALSE(shell_quote("/a\nb", syntax).has_value());
    CHECK_FALSE(shell_quote("/a\tb", syntax).has_value());
    CHECK_FALSE(shell_quote(std::string("/a\0b", 4), syntax).has_value());
    CHECK_FALSE(shell_quote("/a\x7f", syntax).has_value());
    CHECK_FALSE(socket_env_line("/a\rb", syntax).has_value());
  }
}
