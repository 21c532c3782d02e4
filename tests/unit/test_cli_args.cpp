#include "client/cli_args.hpp"
#include "client/socket_path.hpp"
#include "common/version.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

using actoken::client::command_kind;
using actoken::client::command_line;
using actoken::client::parse_command_line;
using actoken::client::parse_outcome;

namespace {

parse_outcome parse(std::vector<std::string> args) { return parse_command_line(args); }

// Parses what must be a valid command line.
command_line ok(std::vector<std::string> args) {
  auto outcome = parse_command_line(args);
  INFO("stderr: " << outcome.err);
  REQUIRE(outcome.command.has_value());
  return *outcome.command;
}

// A usage error: exit 2, one `actoken: ` line on stderr, nothing on stdout.
void usage(std::vector<std::string> args, const std::string& mentions = {}) {
  const auto outcome = parse_command_line(args);
  CHECK_FALSE(outcome.command.has_value());
  CHECK(outcome.exit_code == 2);
  CHECK(outcome.out.empty());
  CHECK(outcome.err.starts_with("actoken: "));
  CHECK(outcome.err.ends_with("\n"));
  CHECK(outcome.err.find('\n') == outcome.err.size() - 1);
  if (!mentions.empty()) {
    CHECK(outcome.err.find(mentions) != std::string::npos);
  }
}

actoken::env_lookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    const auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("--version prints `actoken <version>` and exits 0") {
  const auto outcome = parse({"--version"});
  CHECK_FALSE(outcome.command.has_value());
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.out == "actoken " + std::string(actoken::version) + "\n");
}

TEST_CASE("--help exits 0 for every command and shows examples") {
  const std::vector<std::vector<std::string>> helps{{"--help"},
                                                    {"-h"},
                                                    {"token", "--help"},
                                                    {"header", "--help"},
                                                    {"exec", "--help"},
                                                    {"orgs", "--help"},
                                                    {"status", "--help"},
                                                    {"ping", "--help"},
                                                    {"key", "--help"},
                                                    {"key", "add", "--help"},
                                                    {"key", "remove", "--help"},
                                                    {"flush", "--help"},
                                                    {"env", "--help"},
                                                    {"appcircle-config", "--help"},
                                                    {"whoami", "--help"},
                                                    {"reload", "--help"}};
  for (const auto& args : helps) {
    CAPTURE(args.front());
    CAPTURE(args.back());
    const auto outcome = parse(args);
    CHECK_FALSE(outcome.command.has_value());
    CHECK(outcome.exit_code == 0);
    CHECK(outcome.err.empty());
    CHECK(outcome.out.find("Usage: actoken") != std::string::npos);
    CHECK(outcome.out.find("Examples:") != std::string::npos);
  }
  CHECK(parse({"token", "--help"}).out.find("--min-ttl") != std::string::npos);
  CHECK(parse({"key", "add", "--help"}).out.find("--ephemeral") != std::string::npos);
  CHECK(parse({"--help"}).out.find("Exit codes") != std::string::npos);
}

TEST_CASE("whoami and reload take no argument; --json and --socket before or after") {
  CHECK(ok({"whoami"}).kind == command_kind::whoami);
  CHECK(ok({"reload"}).kind == command_kind::reload);
  const auto json_after = ok({"whoami", "--json", "--socket", "/s"});
  CHECK(json_after.json);
  CHECK(json_after.socket == "/s");
  CHECK(ok({"--json", "reload"}).json);
}

TEST_CASE("token: ORG positional or --org, and every option") {
  const auto bare = ok({"token"});
  CHECK(bare.kind == command_kind::token);
  CHECK_FALSE(bare.token.org.has_value());
  CHECK_FALSE(bare.token.sub_org.has_value());
  CHECK_FALSE(bare.token.min_ttl.has_value());
  CHECK_FALSE(bare.token.fresh);
  CHECK_FALSE(bare.json);
  CHECK_FALSE(bare.socket.has_value());

  CHECK(ok({"token", "acme"}).token.org == "acme");
  CHECK(ok({"token", "--org", "acme"}).token.org == "acme");
  CHECK(ok({"token", "acme", "--org=acme"}).token.org == "acme");

  const auto full = ok({"token", "acme", "--sub-org", "mobile", "--min-ttl", "0", "--fresh"});
  CHECK(full.token.org == "acme");
  CHECK(full.token.sub_org == "mobile");
  CHECK(full.token.min_ttl == 0);
  CHECK(full.token.fresh);
  CHECK(ok({"token", "--min-ttl", "86400"}).token.min_ttl == 86400);
}

TEST_CASE("token usage errors exit 2") {
  usage({"token", "acme", "--org", "other"}, "twice");
  usage({"token", "--min-ttl", "86401"}, "--min-ttl");
  usage({"token", "--min-ttl", "-1"});
  usage({"token", "--min-ttl", "soon"});
  usage({"token", "--min-ttl"});
  usage({"token", "a/b"}, "ORG: expected an organization name");
  usage({"token", "-acme"});
  usage({"token", "--org", std::string(65, 'a')});
  usage({"token", "acme", "extra"});
  usage({"token", "--sub-org", ""});
  usage({"token", "--bogus"}, "--bogus");
}

TEST_CASE("global options are accepted before and after the command") {
  const auto before = ok({"--json", "--socket", "/tmp/s.sock", "token", "acme"});
  CHECK(before.json);
  CHECK(before.socket == "/tmp/s.sock");
  const auto after = ok({"token", "acme", "--json", "--socket=/tmp/s.sock"});
  CHECK(after.json);
  CHECK(after.socket == "/tmp/s.sock");
  CHECK(after.token.org == "acme");
  CHECK(ok({"key", "add", "acme", "--json"}).json);
  CHECK(ok({"key", "remove", "acme", "--socket", "/x"}).socket == "/x");
  CHECK(ok({"orgs", "--json"}).json);
  usage({"--socket", "", "ping"});
}

TEST_CASE("header takes the same options as token") {
  const auto command = ok({"header", "--org", "acme", "--sub-org", "x", "--min-ttl", "30"});
  CHECK(command.kind == command_kind::header);
  CHECK(command.token.org == "acme");
  CHECK(command.token.sub_org == "x");
  CHECK(command.token.min_ttl == 30);
  CHECK(ok({"header", "acme"}).token.org == "acme");
}

TEST_CASE("exec: options before `--`, the command after it, untouched") {
  const auto command = ok({"exec", "--org", "acme", "--min-ttl", "600", "--", "curl", "-H", "--org",
                           "--json", "--", "x"});
  CHECK(command.kind == command_kind::exec);
  CHECK(command.token.org == "acme");
  CHECK(command.token.min_ttl == 600);
  CHECK_FALSE(command.json);
  CHECK(command.exec_argv == std::vector<std::string>{"curl", "-H", "--org", "--json", "--", "x"});
  CHECK(command.env_names == std::vector<std::string>{"AC_ACCESS_TOKEN"});

  const auto envs = ok({"--json", "exec", "--env", "A", "--env", "B_2", "--", "env"});
  CHECK(envs.env_names == std::vector<std::string>{"A", "B_2"});
  CHECK(envs.exec_argv == std::vector<std::string>{"env"});
  CHECK(envs.json);

  CHECK(ok({"exec", "--", "--help"}).exec_argv == std::vector<std::string>{"--help"});
}

TEST_CASE("exec usage errors exit 2") {
  usage({"exec"}, "--");
  usage({"exec", "--org", "acme"}, "--");
  usage({"exec", "--"}, "no command");
  usage({"exec", "curl", "x"}, "after `--`");
  usage({"exec", "--env", "1BAD", "--", "x"}, "environment variable");
  usage({"exec", "--env", "A=B", "--", "x"}, "environment variable");
  usage({"exec", "acme", "beta", "--", "x"}, "after `--`");
  usage({"exec", "acme", "--org", "beta", "--", "x"}, "twice");
  const auto help = parse({"exec", "--help", "--", "ls"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--env") != std::string::npos);
}

TEST_CASE("exec takes the organization as its first argument too") {
  const auto command = ok({"exec", "acme", "--", "env"});
  CHECK(command.kind == command_kind::exec);
  CHECK(command.token.org == "acme");
  CHECK(command.exec_argv == std::vector<std::string>{"env"});
  const auto both = ok({"exec", "acme", "--org", "acme", "--min-ttl", "60", "--", "x", "acme"});
  CHECK(both.token.org == "acme");
  CHECK(both.token.min_ttl == 60);
  CHECK(both.exec_argv == std::vector<std::string>{"x", "acme"});
  CHECK(ok({"exec", "--sub-org", "mobile", "acme", "--", "x"}).token.org == "acme");
}

TEST_CASE("exec refuses --env names the command needs to run") {
  // SPEC §5: PATH, HOME, SHELL, USER, LOGNAME, IFS and any LD_*.
  for (const auto* name : {"PATH", "HOME", "SHELL", "USER", "LOGNAME", "IFS"}) {
    CAPTURE(name);
    usage({"exec", "acme", "--env", name, "--", "x"},
          "--env: " + std::string(name) + " is needed by the command to run");
    usage({"exec", "--env", "AC_ACCESS_TOKEN", "--env", name, "--", "x"}, "--env: ");
  }
  for (const auto* name : {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_", "LD_AUDIT"}) {
    CAPTURE(name);
    usage({"exec", "--env", name, "--", "x"}, "--env: LD_* variables steer the dynamic linker");
  }
  // Names that merely look alike are fine; the check is exact and case-sensitive.
  for (const auto* name : {"MYPATH", "PATH_", "Path", "HOME2", "XLD_X", "ld_preload", "LDX"}) {
    CAPTURE(name);
    CHECK(ok({"exec", "--env", name, "--", "x"}).env_names == std::vector<std::string>{name});
  }
  CHECK(actoken::client::refused_env_name("AC_ACCESS_TOKEN").empty());
  // The message names a refused variable only when it is one of the fixed list.
  const auto ld = parse({"exec", "--env", "LD_SeCrEt", "--", "x"});
  CHECK(ld.exit_code == 2);
  CHECK(ld.err.find("SeCrEt") == std::string::npos);
}

TEST_CASE("env: --shell sh, csh or fish, or none") {
  const auto bare = ok({"env"});
  CHECK(bare.kind == command_kind::env);
  CHECK_FALSE(bare.shell.has_value());
  CHECK(ok({"env", "--shell", "sh"}).shell == actoken::client::shell_syntax::sh);
  CHECK(ok({"env", "--shell", "csh"}).shell == actoken::client::shell_syntax::csh);
  CHECK(ok({"env", "--shell=fish"}).shell == actoken::client::shell_syntax::fish);
  CHECK(ok({"--socket", "/x.sock", "env"}).socket == "/x.sock");
  usage({"env", "--shell", "bash"}, "--shell: expected sh, csh or fish");
  usage({"env", "--shell"}, "--shell needs a value");
  usage({"env", "acme"}, "unexpected argument");
}

TEST_CASE("appcircle-config: ORG, --sub-org, --min-ttl, --file") {
  const auto bare = ok({"appcircle-config"});
  CHECK(bare.kind == command_kind::appcircle_config);
  CHECK_FALSE(bare.token.org.has_value());
  CHECK_FALSE(bare.file.has_value());
  const auto full = ok({"appcircle-config", "acme", "--sub-org", "mobile", "--min-ttl", "1800",
                        "--file", "/tmp/c.json", "--json"});
  CHECK(full.token.org == "acme");
  CHECK(full.token.sub_org == "mobile");
  CHECK(full.token.min_ttl == 1800);
  CHECK(full.file == "/tmp/c.json");
  CHECK(full.json);
  usage({"appcircle-config", "--file", ""}, "--file");
  usage({"appcircle-config", "acme", "beta"}, "unexpected argument");
  usage({"appcircle-config", "--fresh"}, "unknown option '--fresh'");
  usage({"appcircle-config", "a/b"}, "ORG: expected an organization name");
}

TEST_CASE("orgs, status and ping take no arguments") {
  CHECK(ok({"orgs"}).kind == command_kind::orgs);
  CHECK(ok({"status"}).kind == command_kind::status);
  CHECK(ok({"ping"}).kind == command_kind::ping);
  usage({"orgs", "acme"});
  usage({"ping", "--org", "acme"});
}

TEST_CASE("key add and key remove") {
  const auto add = ok({"key", "add", "acme"});
  CHECK(add.kind == command_kind::key_add);
  CHECK(add.org == "acme");
  CHECK_FALSE(add.auth_url.has_value());
  CHECK_FALSE(add.api_version.has_value());
  CHECK_FALSE(add.ephemeral);

  const auto full = ok({"key", "add", "acme", "--auth-url", "https://auth.example.com",
                        "--api-version", "auto", "--ephemeral"});
  CHECK(full.auth_url == "https://auth.example.com");
  CHECK(full.api_version == "auto");
  CHECK(full.ephemeral);

  const auto remove = ok({"key", "remove", "acme"});
  CHECK(remove.kind == command_kind::key_remove);
  CHECK(remove.org == "acme");

  usage({"key"}, "add or remove");
  usage({"key", "list"});
  usage({"key", "add"}, "ORG");
  usage({"key", "add", "acme", "THE-SECRET-KEY"});  // never from an argument
  usage({"key", "add", "acme", "--key", "x"});
  usage({"key", "add", "acme", "--api-version", "v4"});
  usage({"key", "add", "bad/name"});
  usage({"key", "remove"});
}

TEST_CASE("a usage error never echoes an argument that could be a key") {
  const auto extra = parse({"key", "add", "acme", "c2VjcmV0LWtleQ=="});
  CHECK_FALSE(extra.command.has_value());
  CHECK(extra.exit_code == 2);
  CHECK(extra.err.find("c2VjcmV0LWtleQ") == std::string::npos);
  CHECK(extra.err.find("stdin") != std::string::npos);
  const auto misplaced = parse({"key", "add", "c2VjcmV0/LWtleQ=="});
  CHECK(misplaced.exit_code == 2);
  CHECK(misplaced.err.find("c2VjcmV0") == std::string::npos);
  const auto remove = parse({"key", "remove", "acme", "c2VjcmV0LWtleQ=="});
  CHECK(remove.exit_code == 2);
  CHECK(remove.err.find("c2VjcmV0LWtleQ") == std::string::npos);
}

TEST_CASE("no usage error repeats a value given to any option, or a stray argument") {
  // SPEC §5: the value may be a pasted key. Each message names the option and
  // says what it expects instead.
  const std::string secret = "SeCrEtKeY0123456789abcdef";
  struct attempt {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<attempt> attempts{
      {{"token", "--min-ttl", secret}, "--min-ttl: expected whole seconds from 0 to 86400"},
      {{"token", "--min-ttl=" + secret}, "--min-ttl: expected whole seconds"},
      {{"header", "--min-ttl", secret}, "--min-ttl: expected"},
      {{"exec", "--min-ttl", secret, "--", "true"}, "--min-ttl: expected"},
      {{"token", "--org", secret + "/"}, "--org: expected an organization name"},
      {{"token", secret + "/"}, "ORG: expected an organization name"},
      {{"flush", secret + "/"}, "ORG: expected an organization name"},
      {{"flush", "--org=" + secret + "/"}, "--org: expected an organization name"},
      {{"key", "add", secret + "/"}, "ORG: expected an organization name"},
      {{"key", "remove", secret + "/"}, "ORG: expected an organization name"},
      {{"token", "--fresh=" + secret}, "--fresh takes no value"},
      {{"--json=" + secret, "ping"}, "--json takes no value"},
      {{"key", "add", "acme", "--ephemeral=" + secret}, "--ephemeral takes no value"},
      {{"key", "add", "acme", "--api-version", secret},
       "--api-version: expected v1, v2, v3 or auto"},
      {{"exec", "--env", secret + "-", "--", "true"},
       "--env: expected an environment variable name"},
      {{"exec", "--env=" + secret + "-", "--", "true"}, "--env: expected"},
      {{"token", "acme", secret}, "unexpected argument"},
      {{"ping", secret}, "unexpected argument"},
      {{"orgs", "--json", secret}, "unexpected argument"},
      {{"flush", "acme", secret}, "unexpected argument"},
      {{"key", "add", "acme", secret}, "never from an argument"},
      {{"key", "remove", "acme", secret}, "unexpected argument"},
      {{"exec", "acme", secret, "--", "true"}, "after `--`"},
      {{"exec", secret, "true"}, "after `--`"},
      {{"exec", "--env", "LD_" + secret, "--", "true"}, "--env: LD_* variables"},
      {{"env", "--shell", secret}, "--shell: expected sh, csh or fish"},
      {{"env", secret}, "unexpected argument"},
      {{"appcircle-config", "--min-ttl", secret}, "--min-ttl: expected"},
      {{"appcircle-config", "acme", secret}, "unexpected argument"},
      {{"appcircle-config", secret + "/"}, "ORG: expected an organization name"},
      {{secret},
       "unknown command; expected token, header, exec, orgs, status, ping, key, flush, whoami, "
       "reload, env, appcircle-config or help"},
      {{"help", secret}, "unknown command; expected token"},
      {{"key", secret}, "unknown command; expected add or remove"},
      {{"whoami", secret}, "unexpected argument"},
      {{"reload", secret}, "unexpected argument"},
      {{"--" + secret, "ping"}, "unknown option"},
      {{"-" + secret}, "unknown option"},
      {{"token", "--" + secret}, "unknown option"},
      {{"token", "-" + secret}, "unknown option"},
      {{"token", "acme", "--org", secret}, "given twice"},
  };
  for (const auto& [args, says] : attempts) {
    std::string line;
    for (const auto& arg : args) {
      line += arg + ' ';
    }
    CAPTURE(line);
    const auto outcome = parse(args);
    CHECK(outcome.exit_code == 2);
    CHECK(outcome.out.empty());
    CHECK(outcome.err.find(says) != std::string::npos);
    CHECK(outcome.err.find("SeCrEt") == std::string::npos);
  }
  // An option that looks like a mistyped one is named: it helps, and it is no key.
  usage({"token", "--min_ttl=5"}, "unknown option (");
  usage({"token", "--mintl=5"}, "unknown option '--mintl'");
  usage({"token", "--sub-org"}, "--sub-org needs a value: a sub-organization alias or GUID");
}

TEST_CASE("flush with and without an organization") {
  const auto all = ok({"flush"});
  CHECK(all.kind == command_kind::flush);
  CHECK_FALSE(all.org.has_value());
  CHECK(ok({"flush", "acme"}).org == "acme");
  CHECK(ok({"flush", "--org", "acme"}).org == "acme");
  usage({"flush", "acme", "--org", "beta"});
  usage({"flush", "a", "b"});
}

TEST_CASE("no command, an unknown command or an unknown option exits 2") {
  usage({"bogus"}, "no command bogus; expected token, header");
  usage({"--bogus"}, "unknown option '--bogus'");
}

TEST_CASE("no command at all: the whole usage on stderr, exit 2; --json: a usage object too") {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{}, {"--json"}, {"--socket", "/s"}}) {
    const auto outcome = parse(args);
    CHECK_FALSE(outcome.command.has_value());
    CHECK(outcome.exit_code == 2);
    CHECK(outcome.out.empty());
    CHECK(outcome.err == parse({"--help"}).out);
    CHECK(outcome.message == "a command is required (see `actoken help`)");
  }
  CHECK(parse({"--json"}).json);
  CHECK_FALSE(parse({}).json);
}

TEST_CASE("an unknown command gets the nearest one") {
  const auto typo = parse({"tokn"});
  CHECK(typo.exit_code == 2);
  CHECK(typo.out.empty());
  CHECK(typo.err == "actoken: no command tokn; did you mean token?\n");
  CHECK(typo.message == "no command tokn; did you mean token?");
  CHECK(parse({"--socket", "/s", "hedaer", "acme"}).err ==
        "actoken: no command hedaer; did you mean header?\n");
  CHECK(parse({"appcircle-confg"}).err ==
        "actoken: no command appcircle-confg; did you mean appcircle-config?\n");
  CHECK(parse({"key", "remvoe", "acme"}).err ==
        "actoken: no command key remvoe; did you mean key remove?\n");
  usage({"key", "zap"}, "no command key zap; expected add or remove");
  // A usage error with --json anywhere before `--` is JSON too (main prints it).
  CHECK(parse({"tokn", "--json"}).json);
  CHECK_FALSE(parse({"exec", "acme", "--", "tool", "--json"}).json);
}

TEST_CASE("help COMMAND is COMMAND --help; help alone is --help") {
  const auto root = parse({"--help"});
  CHECK(parse({"help"}).out == root.out);
  CHECK(parse({"help"}).exit_code == 0);
  // Help's own help, as for every command.
  const auto own = parse({"help", "help"});
  CHECK(own.out == parse({"help", "--help"}).out);
  CHECK(own.out.find("Usage: actoken help") != std::string::npos);
  CHECK(own.out.find("actoken help key add") != std::string::npos);
  CHECK(parse({"--json", "help"}).out == root.out);
  CHECK(root.out.find("help COMMAND") != std::string::npos);
  for (const auto& name : actoken::client::command_names()) {
    CAPTURE(name);
    std::vector<std::string> words;
    for (std::size_t at = 0; at <= name.size();) {
      const auto space = std::min(name.find(' ', at), name.size());
      words.push_back(name.substr(at, space - at));
      at = space + 1;
    }
    auto with_help = words;
    with_help.emplace_back("--help");
    words.insert(words.begin(), "help");
    const auto asked = parse(words);
    CHECK(asked.exit_code == 0);
    CHECK(asked.err.empty());
    CHECK(asked.out == parse(with_help).out);
  }
  CHECK(parse({"help", "key"}).out == parse({"key", "--help"}).out);
  CHECK(parse({"help", "tokn"}).err == "actoken: no command tokn; did you mean token?\n");
  CHECK(parse({"help", "key", "ad"}).err == "actoken: no command key ad; did you mean key add?\n");
  usage({"help", "token", "acme"}, "help takes one command");
  usage({"help", "--bogus"}, "unknown option '--bogus'");
}

TEST_CASE("organization and variable names follow the SPEC") {
  using actoken::client::valid_env_name;
  using actoken::client::valid_org_name;
  CHECK(valid_org_name("acme"));
  CHECK(valid_org_name("A.b_c-9"));
  CHECK(valid_org_name(std::string(64, 'a')));
  CHECK_FALSE(valid_org_name(std::string(65, 'a')));
  CHECK_FALSE(valid_org_name(""));
  CHECK_FALSE(valid_org_name(".acme"));
  CHECK_FALSE(valid_org_name("ac me"));
  CHECK(valid_env_name("AC_ACCESS_TOKEN"));
  CHECK(valid_env_name("_x1"));
  CHECK_FALSE(valid_env_name("1x"));
  CHECK_FALSE(valid_env_name(""));
  CHECK_FALSE(valid_env_name("A-B"));
}

TEST_CASE("socket discovery: --socket, $ACTOKEN_SOCKET, user socket if present, system") {
  using actoken::client::discover_socket;
  const auto never = [](const std::filesystem::path&) { return false; };
  const auto always = [](const std::filesystem::path&) { return true; };
  const auto env = fake_env({{"ACTOKEN_SOCKET", "/env.sock"}, {"XDG_RUNTIME_DIR", "/run/user/7"}});
  const auto no_override = fake_env({{"XDG_RUNTIME_DIR", "/xdg"}});

  CHECK(discover_socket(std::string("/flag.sock"), env, 7, always) == "/flag.sock");
  CHECK(discover_socket(std::nullopt, env, 7, always) == "/env.sock");
  CHECK(discover_socket(std::nullopt, fake_env({{"ACTOKEN_SOCKET", ""}}), 7, never) ==
        "/run/actoken/actokend.sock");
  CHECK(discover_socket(std::nullopt, no_override, 7, always) == "/xdg/actoken/actokend.sock");
  CHECK(discover_socket(std::nullopt, no_override, 7, never) == "/run/actoken/actokend.sock");
}

TEST_CASE("socket discovery without XDG_RUNTIME_DIR: /run/user/<uid>, then /tmp, then system") {
  // As under cron, su and sudo: the logind folder is found without the variable.
  using actoken::client::discover_socket;
  for (const auto& env : {fake_env({}), fake_env({{"XDG_RUNTIME_DIR", ""}})}) {
    std::vector<std::filesystem::path> asked;
    const auto none_there = [&](const std::filesystem::path& p) {
      asked.push_back(p);
      return false;
    };
    CHECK(discover_socket(std::nullopt, env, 7, none_there) == "/run/actoken/actokend.sock");
    CHECK(asked == std::vector<std::filesystem::path>{"/run/user/7/actoken/actokend.sock",
                                                      "/tmp/actoken-7/actokend.sock"});
    const auto only = [](const std::filesystem::path& there) {
      return [there](const std::filesystem::path& p) { return p == there; };
    };
    CHECK(discover_socket(std::nullopt, env, 7, only("/run/user/7/actoken/actokend.sock")) ==
          "/run/user/7/actoken/actokend.sock");
    CHECK(discover_socket(std::nullopt, env, 7, only("/tmp/actoken-7/actokend.sock")) ==
          "/tmp/actoken-7/actokend.sock");
    const auto both = [](const std::filesystem::path& p) { return p.string().starts_with("/"); };
    CHECK(discover_socket(std::nullopt, env, 7, both) == "/run/user/7/actoken/actokend.sock");
  }
  // With XDG_RUNTIME_DIR set, /tmp is still the fallback; /run/user/<uid> is not asked.
  std::vector<std::filesystem::path> asked;
  discover_socket(std::nullopt, fake_env({{"XDG_RUNTIME_DIR", "/xdg"}}), 7,
                  [&](const std::filesystem::path& p) {
                    asked.push_back(p);
                    return false;
                  });
  CHECK(asked == std::vector<std::filesystem::path>{"/xdg/actoken/actokend.sock",
                                                    "/tmp/actoken-7/actokend.sock"});
}

TEST_CASE("--help-all (not an option), key without a subcommand, odd env names, no command") {
  usage({"--help-all"});
  usage({"key"}, "key needs a subcommand: add or remove");
  usage({"exec", "acme", "--env", "1TOKEN", "--", "true"});
  usage({"exec", "acme", "--env", "", "--", "true"});
}
