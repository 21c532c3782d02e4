// actokend's command line (SPEC §2).
#include "daemon/startup/daemon_args.hpp"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <variant>
#include <vector>

using actoken::daemon_args;
using actoken::daemon_usage_error;
using actoken::run_mode;
using actoken::shell_syntax;

namespace {

std::variant<daemon_args, daemon_usage_error> parse(std::initializer_list<const char*> args) {
  const std::vector<const char*> argv(args);
  return actoken::parse_daemon_args(argv);
}

daemon_args accepted(std::initializer_list<const char*> args) {
  auto result = parse(args);
  REQUIRE(std::holds_alternative<daemon_args>(result));
  return std::get<daemon_args>(std::move(result));
}

std::string refused(std::initializer_list<const char*> args) {
  auto result = parse(args);
  REQUIRE(std::holds_alternative<daemon_usage_error>(result));
  return std::get<daemon_usage_error>(result).message;
}

}  // namespace

TEST_CASE("no arguments: every default left to the mode") {
  const auto args = accepted({});
  CHECK_FALSE(args.mode.has_value());
  CHECK(args.config_path.empty());
  CHECK(args.socket_path.empty());
  CHECK(args.log_level.empty());
  CHECK_FALSE(args.check_config);
  CHECK_FALSE(args.detach);
  CHECK_FALSE(args.shell.has_value());
  CHECK_FALSE(args.show_version);
  CHECK_FALSE(args.show_help);
}

TEST_CASE("every option, with its value next or after '='") {
  const auto args = accepted({"--system", "--config", "/etc/a.json", "--socket=/run/a.sock",
                              "--log-level", "debug", "--check-config"});
  CHECK(args.mode == run_mode::system);
  CHECK(args.config_path == "/etc/a.json");
  CHECK(args.socket_path == "/run/a.sock");
  CHECK(args.log_level == "debug");
  CHECK(args.check_config);
  CHECK(accepted({"--user"}).mode == run_mode::user);
  CHECK(accepted({"--user", "--user"}).mode == run_mode::user);
  CHECK(accepted({"--version"}).show_version);
  CHECK(accepted({"--help"}).show_help);
  CHECK(accepted({"-h"}).show_help);
  // A value may itself look like '='.
  CHECK(accepted({"--config=/tmp/a=b.json"}).config_path == "/tmp/a=b.json");
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    CHECK(accepted({"--log-level", level}).log_level == level);
  }
}

TEST_CASE("--detach, with --shell sh, csh or fish or none (then $SHELL decides)") {
  const auto detached = accepted({"--detach"});
  CHECK(detached.detach);
  CHECK_FALSE(detached.shell.has_value());
  CHECK(accepted({"--detach", "--shell", "sh"}).shell == shell_syntax::sh);
  CHECK(accepted({"--shell=csh", "--detach"}).shell == shell_syntax::csh);
  CHECK(accepted({"--user", "--detach", "--shell", "fish"}).shell == shell_syntax::fish);
  CHECK(refused({"--detach", "--shell", "bash"}) == "--shell must be one of sh, csh, fish");
  CHECK(refused({"--shell", "sh"}) == "--shell needs --detach");
  CHECK(refused({"--detach", "--shell"}) == "--shell needs a value");
  CHECK(refused({"--detach=yes"}) == "--detach takes no value");
  CHECK(refused({"--detach", "--check-config"}) ==
        "--detach and --check-config exclude each other");
}

TEST_CASE("usage errors say what is wrong") {
  CHECK(refused({"--system", "--user"}) == "--system and --user exclude each other");
  CHECK(refused({"--config"}) == "--config needs a value");
  CHECK(refused({"--socket="}) == "--socket needs a value");
  CHECK(refused({"--version=1"}) == "--version takes no value");
  CHECK(refused({"--log-level", "verbose"}) ==
        "--log-level must be one of trace, debug, info, warn, error");
  CHECK(refused({"--config", "--socket", "/run/a.sock"}) == "--config needs a value");
  CHECK(refused({"--no-such-flag"}) == "unknown option --no-such-flag");
  CHECK(refused({"--no-such-flag=secret"}) == "unknown option --no-such-flag");
  CHECK(refused({"-x"}) == "unknown option -x");
}

TEST_CASE("a stray argument or a bad value is refused without being echoed (it may be a key)") {
  CHECK(refused({"--user", "ac_pak_0123456789"}).find("ac_pak") == std::string::npos);
  CHECK(refused({"--log-level", "ac_pak_0123456789"}).find("ac_pak") == std::string::npos);
  // An unknown option is named only when it looks like one.
  CHECK(refused({"-ac_pak_0123456789"}) == "unknown option");
  CHECK(refused({"--ac_pak_0123456789"}) == "unknown option");
  CHECK(refused({"--Ac-Pak-0123456789=x"}) == "unknown option");
  CHECK(refused({"--socket", "/s", "--kkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"}) == "unknown option");
}

TEST_CASE("--help names every option of SPEC §2") {
  const std::string usage(actoken::daemon_usage());
  for (const char* option : {"--system", "--user", "--config", "--socket", "--log-level",
                             "--check-config", "--detach", "--shell", "--version", "--help"}) {
    CHECK_MESSAGE(usage.find(option) != std::string::npos, option);
  }
}
