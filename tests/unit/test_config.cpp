// The config parser (SPEC §2): defaults by mode, type checks that name the
// key, unknown keys, comments, socket_mode, sub-organizations, key_file
// resolution, and how broken text is reported. Pure: text in, config out
// (load_config alone reads a file).
#include "daemon/config.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

using namespace actoken;

namespace {

// An environment with only what the test sets.
env_lookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    const auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

config_context user_context() {
  config_context context;
  context.file = "/home/dev/.config/actoken/actokend.json";
  context.defaults = defaults_for(
      run_mode::user,
      fake_env({{"XDG_CONFIG_HOME", "/home/dev/.config"}, {"XDG_RUNTIME_DIR", "/run/user/1000"}}),
      1000);
  return context;
}

config_context system_context() {
  config_context context;
  context.file = "/etc/actoken/actokend.json";
  context.defaults = defaults_for(run_mode::system, fake_env({}), 0);
  return context;
}

config parse_ok(std::string_view text, const config_context& context = system_context()) {
  auto result = parse_config(text, context);
  if (auto* problems = std::get_if<std::vector<config_problem>>(&result)) {
    for (const auto& p : *problems) FAIL_CHECK(p.to_string());
    FAIL("expected a valid config: " << text);
  }
  return std::get<config>(std::move(result));
}

std::vector<config_problem> parse_bad(std::string_view text,
                                      const config_context& context = system_context()) {
  auto result = parse_config(text, context);
  auto* problems = std::get_if<std::vector<config_problem>>(&result);
  REQUIRE_MESSAGE(problems != nullptr, "expected problems: " << text);
  REQUIRE_FALSE(problems->empty());
  return *problems;
}

// The only problem with `text` names `key`.
void check_one_problem(std::string_view text, std::string_view key) {
  CAPTURE(text);
  const auto problems = parse_bad(text);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].key == key);
  CHECK(problems[0].file == "/etc/actoken/actokend.json");
  CHECK_FALSE(problems[0].reason.empty());
  CHECK(problems[0].to_string() ==
        "/etc/actoken/actokend.json: " + std::string(key) + ": " + problems[0].reason);
}

}  // namespace

TEST_CASE("an empty or blank file means every default of the mode") {
  for (const auto* text : {"", "  \n\t\r\n", "{}"}) {
    CAPTURE(text);
    const auto sys = parse_ok(text, system_context());
    CHECK(sys.socket == "/run/actoken/actokend.sock");
    CHECK(sys.key_dir == "/var/lib/actoken/keys");
    CHECK(sys.socket_mode == 0660U);

    const auto user = parse_ok(text, user_context());
    CHECK(user.socket == "/run/user/1000/actoken/actokend.sock");
    CHECK(user.key_dir == "/home/dev/.config/actoken/keys");
    CHECK(user.socket_mode == 0600U);

    CHECK_FALSE(sys.socket_group.has_value());
    CHECK(sys.auth_url == "https://auth.appcircle.io");
    CHECK(sys.api_version == upstream::api_version::v3);
    CHECK(sys.scope == "openid,profile,email");
    CHECK_FALSE(sys.ca_file.has_value());
    CHECK_FALSE(sys.proxy.has_value());
    CHECK(sys.upstream_timeout == std::chrono::seconds{15});
    CHECK(sys.min_ttl == std::chrono::seconds{60});
    CHECK(sys.refresh_before == std::chrono::seconds{900});
    CHECK(sys.default_token_ttl == std::chrono::seconds{600});
    CHECK(sys.retry_rejected_after == std::chrono::seconds{300});
    CHECK(sys.max_exchanges_per_minute == 60U);
    CHECK_FALSE(sys.cache_file.has_value());
    CHECK(sys.max_connections == 1024U);
    CHECK(sys.log_level == "info");
    CHECK_FALSE(sys.default_org.has_value());
    CHECK(sys.admin.empty());
    CHECK(sys.allow.empty());
    CHECK(sys.organizations.empty());
  }
}

TEST_CASE("the user-mode defaults follow XDG, else HOME and /tmp/actoken-<uid>") {
  const auto xdg = defaults_for(
      run_mode::user, fake_env({{"XDG_CONFIG_HOME", "/cfg"}, {"XDG_RUNTIME_DIR", "/run/user/42"}}),
      42);
  CHECK(xdg.config == "/cfg/actoken/actokend.json");
  CHECK(xdg.key_dir == "/cfg/actoken/keys");
  CHECK(xdg.socket == "/run/user/42/actoken/actokend.sock");

  const auto plain = defaults_for(run_mode::user, fake_env({{"HOME", "/home/x"}}), 42);
  CHECK(plain.config == "/home/x/.config/actoken/actokend.json");
  CHECK(plain.socket == "/tmp/actoken-42/actokend.sock");

  const auto sys = defaults_for(run_mode::system, fake_env({{"XDG_CONFIG_HOME", "/cfg"}}), 0);
  CHECK(sys.config == "/etc/actoken/actokend.json");
}

TEST_CASE("every key is read into the config") {
  const auto cfg = parse_ok(R"({
    "socket": "/srv/a.sock", "socket_mode": "0666", "socket_group": "builders",
    "key_dir": "keys", "auth_url": "https://auth.example.com/", "api_version": "auto",
    "scope": "", "ca_file": "/etc/ssl/ca.pem", "proxy": "http://proxy:3128",
    "upstream_timeout": 5, "min_ttl": 0, "refresh_before": 120, "default_token_ttl": 30,
    "retry_rejected_after": 10, "max_exchanges_per_minute": 7, "cache_file": "cache.bin",
    "max_connections": 9, "log_level": "debug", "default_org": "acme",
    "admin": {"users": ["root", 0], "groups": ["wheel", 10]},
    "allow": {"users": ["builder", 1001], "groups": ["developers"]},
    "organizations": {"acme": {"key_file": "/etc/actoken/acme.key",
                               "auth_url": "https://auth.acme.example",
                               "api_version": "v2", "scope": "openid",
                               "allow": {"users": ["ci"]}}}
  })");
  CHECK(cfg.socket == "/srv/a.sock");
  CHECK(cfg.socket_mode == 0666U);
  CHECK(cfg.socket_group == "builders");
  CHECK(cfg.key_dir == "/etc/actoken/keys");          // relative to the config's folder
  CHECK(cfg.auth_url == "https://auth.example.com");  // trailing slash dropped
  CHECK(cfg.api_version == upstream::api_version::automatic);
  CHECK(cfg.scope.empty());
  CHECK(cfg.ca_file == std::filesystem::path("/etc/ssl/ca.pem"));
  REQUIRE(cfg.proxy.has_value());
  CHECK(cfg.proxy->view() == "http://proxy:3128");
  CHECK(cfg.upstream_timeout == std::chrono::seconds{5});
  CHECK(cfg.min_ttl == std::chrono::seconds{0});
  CHECK(cfg.refresh_before == std::chrono::seconds{120});
  CHECK(cfg.default_token_ttl == std::chrono::seconds{30});
  CHECK(cfg.retry_rejected_after == std::chrono::seconds{10});
  CHECK(cfg.max_exchanges_per_minute == 7U);
  CHECK(cfg.cache_file == std::filesystem::path("/etc/actoken/cache.bin"));
  CHECK(cfg.max_connections == 9U);
  CHECK(cfg.log_level == "debug");
  CHECK(cfg.default_org == "acme");
  CHECK(cfg.admin.user_names == std::vector<std::string>{"root"});
  CHECK(cfg.admin.uids == std::vector<uid_t>{0});
  CHECK(cfg.admin.group_names == std::vector<std::string>{"wheel"});
  CHECK(cfg.admin.gids == std::vector<gid_t>{10});
  CHECK(cfg.allow.user_names == std::vector<std::string>{"builder"});
  CHECK(cfg.allow.uids == std::vector<uid_t>{1001});
  CHECK(cfg.allow.group_names == std::vector<std::string>{"developers"});
  CHECK(cfg.allow.gids.empty());
  REQUIRE(cfg.organizations.count("acme") == 1);
  const auto& acme = cfg.organizations.at("acme");
  CHECK(acme.key_file == std::filesystem::path("/etc/actoken/acme.key"));
  CHECK(acme.auth_url == "https://auth.acme.example");
  CHECK(acme.api_version == upstream::api_version::v2);
  CHECK(acme.scope == "openid");
  REQUIRE(acme.allow.has_value());
  CHECK(acme.allow->user_names == std::vector<std::string>{"ci"});
}

TEST_CASE("a value of the wrong type or range is a problem naming its key") {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"socket": 5})", "socket"},
      {R"({"socket": ""})", "socket"},
      {R"({"socket_mode": 660})", "socket_mode"},
      {R"({"socket_group": []})", "socket_group"},
      {R"({"socket_group": ""})", "socket_group"},
      {R"({"key_dir": true})", "key_dir"},
      {R"({"auth_url": "http://auth.example.com"})", "auth_url"},
      {R"({"auth_url": "https://user@auth.example.com"})", "auth_url"},
      // The rule an exchange's URL parse applies, checked at load (issue 14).
      {R"({"auth_url": "https://auth.example.com:99999"})", "auth_url"},
      {R"({"auth_url": "https://auth..example.com"})", "auth_url"},
      {R"({"auth_url": 1})", "auth_url"},
      {R"({"api_version": "v4"})", "api_version"},
      {R"({"api_version": 3})", "api_version"},
      {R"({"scope": 1})", "scope"},
      {R"({"ca_file": 1})", "ca_file"},
      {R"({"proxy": "socks5://proxy:1080"})", "proxy"},
      {R"({"proxy": 3128})", "proxy"},
      {R"({"upstream_timeout": "15"})", "upstream_timeout"},
      {R"({"upstream_timeout": 0})", "upstream_timeout"},
      {R"({"min_ttl": -1})", "min_ttl"},
      {R"({"min_ttl": 86401})", "min_ttl"},
      {R"({"refresh_before": 1.5})", "refresh_before"},
      {R"({"default_token_ttl": 0})", "default_token_ttl"},
      {R"({"retry_rejected_after": null})", "retry_rejected_after"},
      {R"({"max_exchanges_per_minute": 0})", "max_exchanges_per_minute"},
      {R"({"max_exchanges_per_minute": -5})", "max_exchanges_per_minute"},
      {R"({"cache_file": ""})", "cache_file"},
      {R"({"audit_log": ""})", "audit_log"},
      {R"({"audit_log": 1})", "audit_log"},
      {R"({"max_connections": "many"})", "max_connections"},
      {R"({"log_level": "verbose"})", "log_level"},
      {R"({"default_org": "bad name"})", "default_org"},
      {R"({"default_org": 1})", "default_org"},
      {R"({"admin": []})", "admin"},
      {R"({"admin": {"users": "root"}})", "admin.users"},
      {R"({"allow": {"groups": [-1]}})", "allow.groups"},
      {R"({"allow": {"users": [""]}})", "allow.users"},
      {R"({"allow": {"users": [true]}})", "allow.users"},
      {R"({"organizations": []})", "organizations"},
      {R"({"organizations": {"acme": 5}})", "organizations.acme"},
      {R"({"organizations": {"bad name": {}}})", "organizations.bad name"},
      {R"({"organizations": {"-acme": {}}})", "organizations.-acme"},
      {R"({"organizations": {"acme": {"key_file": 1}}})", "organizations.acme.key_file"},
      {R"({"organizations": {"acme": {"auth_url": "ftp://x"}}})", "organizations.acme.auth_url"},
      {R"({"organizations": {"acme": {"api_version": "v9"}}})", "organizations.acme.api_version"},
      {R"({"organizations": {"acme": {"scope": []}}})", "organizations.acme.scope"},
      {R"({"organizations": {"acme": {"allow": ["ci"]}}})", "organizations.acme.allow"},
      {R"({"organizations": {"acme": {"allow": {"groups": {}}}}})",
       "organizations.acme.allow.groups"},
      {R"({"organizations": {"acme": {"sub_organizations": []}}})",
       "organizations.acme.sub_organizations"},
  };
  for (const auto& [text, key] : cases) {
    check_one_problem(text, key);
  }
}

TEST_CASE("proxy: parsed as the exchange parses it; the URL (and its password) never repeated") {
  for (const char* url : {"http://bob:pw-s3cret@127.0.0.1:notaport", "http://bob:pw-s3cret@:3128",
                          "http://bob:pw-s3cret@proxy:0", "http://bob:pw-s3cret@proxy:65536",
                          "http://bob:pw-s3cret%zz@proxy:3128", "http://bob:pw-s3cret@proxy/path",
                          "http://bob:pw-s3cret@pro xy:3128", "https://bob:pw-s3cret@proxy:3128",
                          "bob:pw-s3cret@proxy:3128"}) {
    CAPTURE(url);
    const auto text = R"({"proxy": ")" + std::string(url) + R"("})";
    const auto problems = parse_bad(text);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].key == "proxy");
    CHECK(problems[0].to_string().find("s3cret") == std::string::npos);
  }
  // What the exchange accepts, --check-config accepts too.
  for (const char* url : {"http://proxy.corp:3128", "http://bob:pw%40x@10.0.0.1:8080",
                          "http://[::1]:3128", "http://proxy", ""}) {
    CAPTURE(url);
    const auto cfg = parse_ok(R"({"proxy": ")" + std::string(url) + R"("})");
    REQUIRE(cfg.proxy.has_value());
    CHECK(cfg.proxy->view() == url);
  }
}

TEST_CASE("a key that is empty or not plain text is shown quoted and escaped") {
  const auto empty = parse_bad(R"({"": 1})");
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].to_string() == R"(/etc/actoken/actokend.json: "": unknown key)");
  const auto escape = parse_bad("{\"\\u001b[31mred\\nline\": 1}");
  REQUIRE(escape.size() == 1);
  CHECK(escape[0].to_string() ==
        R"(/etc/actoken/actokend.json: "\u001b[31mred\u000aline": unknown key)");
}

TEST_CASE("unknown keys are rejected at every level, each named") {
  check_one_problem(R"({"sockett": "/x"})", "sockett");
  check_one_problem(R"({"admin": {"roles": []}})", "admin.roles");
  check_one_problem(R"({"allow": {"user": ["ci"]}})", "allow.user");
  check_one_problem(R"({"organizations": {"acme": {"keyfile": "a.key"}}})",
                    "organizations.acme.keyfile");
  check_one_problem(R"({"organizations": {"acme": {"allow": {"uids": [1]}}}})",
                    "organizations.acme.allow.uids");

  // Several problems are reported together, not only the first.
  const auto problems = parse_bad(R"({"one": 1, "min_ttl": "x", "two": 2})");
  std::vector<std::string> keys;
  for (const auto& p : problems) keys.push_back(p.key);
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"min_ttl", "one", "two"});
}

TEST_CASE("// and /* */ comments are accepted") {
  const auto cfg = parse_ok(R"(// leading comment
{
  /* block
     comment */
  "min_ttl": 30, // trailing comment
  "organizations": { "acme": { /* inline */ "scope": "openid" } }
}
// and one at the end
)");
  CHECK(cfg.min_ttl == std::chrono::seconds{30});
  CHECK(cfg.organizations.at("acme").scope == "openid");
}

TEST_CASE("socket_mode is an octal string that keeps the owner's read and write") {
  CHECK(parse_ok(R"({"socket_mode": "0666"})").socket_mode == 0666U);
  CHECK(parse_ok(R"({"socket_mode": "0660"})").socket_mode == 0660U);
  CHECK(parse_ok(R"({"socket_mode": "660"})").socket_mode == 0660U);
  CHECK(parse_ok(R"({"socket_mode": "0600"})").socket_mode == 0600U);
  CHECK(parse_ok(R"({"socket_mode": "0640"})").socket_mode == 0640U);
  for (const auto* bad :
       {R"({"socket_mode": "0o660"})", R"({"socket_mode": "0986"})", R"({"socket_mode": ""})",
        R"({"socket_mode": "00660"})", R"({"socket_mode": "0x1b6"})", R"({"socket_mode": "-660"})",
        R"({"socket_mode": "0400"})", R"({"socket_mode": "0066"})"}) {
    check_one_problem(bad, "socket_mode");
  }
}

TEST_CASE("socket_mode takes permission bits only: setuid, setgid and sticky are refused") {
  CHECK(parse_ok(R"({"socket_mode": "0777"})").socket_mode == 0777U);
  for (const auto* bad :
       {R"({"socket_mode": "6777"})", R"({"socket_mode": "1777"})", R"({"socket_mode": "4600"})",
        R"({"socket_mode": "2660"})", R"({"socket_mode": "1600"})"}) {
    CAPTURE(bad);
    const auto problems = parse_bad(bad);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].key == "socket_mode");
    CHECK(problems[0].reason.find("permission bits only") != std::string::npos);
  }
}

TEST_CASE("sub_organizations: GUIDs are checked and lower-cased") {
  const auto cfg = parse_ok(R"({"organizations": {"acme": {"sub_organizations": {
    "mobile": "9B2F6D1E-0000-4000-8000-00000000000A",
    "web": "9b2f6d1e-0000-4000-8000-000000000002"}}}})");
  const auto& subs = cfg.organizations.at("acme").sub_organizations;
  CHECK(subs.size() == 2);
  CHECK(subs.at("mobile") == "9b2f6d1e-0000-4000-8000-00000000000a");
  CHECK(subs.at("web") == "9b2f6d1e-0000-4000-8000-000000000002");

  const auto key = "organizations.acme.sub_organizations.mobile";
  for (const auto* bad : {"\"9b2f6d1e-0000-4000-8000-00000000000\"",     // short
                          "\"9b2f6d1e00004000800000000000000a0000\"",    // no dashes
                          "\"9b2f6d1e-0000-4000-8000-00000000000g\"",    // not hex
                          "\"{9b2f6d1e-0000-4000-8000-00000000000a}\"",  // braces
                          "42", "null"}) {
    CAPTURE(bad);
    check_one_problem(
        std::string(R"({"organizations": {"acme": {"sub_organizations": {"mobile": )") + bad +
            "}}}}",
        key);
  }
  check_one_problem(
      R"({"organizations": {"acme": {"sub_organizations": {"no alias": "9b2f6d1e-0000-4000-8000-000000000002"}}}})",
      "organizations.acme.sub_organizations.no alias");
}

TEST_CASE(
    "a relative key_file is resolved against $CREDENTIALS_DIRECTORY, else the config's folder") {
  const auto text = R"({"organizations": {
    "rel": {"key_file": "acme.key"},
    "sub": {"key_file": "keys/beta.key"},
    "abs": {"key_file": "/srv/keys/abs.key"}}})";

  auto context = system_context();
  auto cfg = parse_ok(text, context);
  CHECK(cfg.organizations.at("rel").key_file == std::filesystem::path("/etc/actoken/acme.key"));
  CHECK(cfg.organizations.at("sub").key_file ==
        std::filesystem::path("/etc/actoken/keys/beta.key"));
  CHECK(cfg.organizations.at("abs").key_file == std::filesystem::path("/srv/keys/abs.key"));

  context.credentials_dir = "/run/credentials/actokend.service";
  cfg = parse_ok(text, context);
  CHECK(cfg.organizations.at("rel").key_file ==
        std::filesystem::path("/run/credentials/actokend.service/acme.key"));
  CHECK(cfg.organizations.at("sub").key_file ==
        std::filesystem::path("/run/credentials/actokend.service/keys/beta.key"));
  CHECK(cfg.organizations.at("abs").key_file == std::filesystem::path("/srv/keys/abs.key"));

  check_one_problem(R"({"organizations": {"acme": {"key_file": ""}}})",
                    "organizations.acme.key_file");
}

TEST_CASE("invalid JSON is reported with its position") {
  const auto problems = parse_bad("{\n  \"min_ttl\": 30,\n  \"scope\" \"x\"\n}");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].key == "(file)");
  CHECK(problems[0].reason.find("not valid JSON") != std::string::npos);
  CHECK(problems[0].reason.find("line 3") != std::string::npos);
  CHECK(problems[0].reason.find("column") != std::string::npos);
  // nlohmann's "[json.exception...]" prefix is not for users.
  CHECK(problems[0].reason.find("json.exception") == std::string::npos);

  const auto truncated = parse_bad(R"({"min_ttl": 30,)");
  CHECK(truncated[0].key == "(file)");

  const auto not_object = parse_bad(R"(["min_ttl"])");
  REQUIRE(not_object.size() == 1);
  CHECK(not_object[0].key == "(file)");
  CHECK(not_object[0].reason.find("object") != std::string::npos);
}

TEST_CASE("load_config: a missing default file is all defaults, a missing explicit one an error") {
  char pattern[] = "/tmp/actoken-config-test-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::filesystem::path dir = pattern;
  auto context = system_context();
  context.file = dir / "actokend.json";

  const auto missing = load_config(dir / "actokend.json", /*must_exist=*/false, context);
  REQUIRE(std::holds_alternative<config>(missing));
  CHECK(std::get<config>(missing).socket == "/run/actoken/actokend.sock");

  const auto explicit_missing = load_config(dir / "actokend.json", /*must_exist=*/true, context);
  REQUIRE(std::holds_alternative<std::vector<config_problem>>(explicit_missing));
  const auto& problem = std::get<std::vector<config_problem>>(explicit_missing).at(0);
  CHECK(problem.file == (dir / "actokend.json").string());
  CHECK(problem.reason.find("cannot read") != std::string::npos);

  {
    std::ofstream out(dir / "actokend.json");
    out << "// comment\n{\"min_ttl\": 5, \"organizations\": {\"acme\": {\"key_file\": "
           "\"a.key\"}}}\n";
  }
  const auto present = load_config(dir / "actokend.json", /*must_exist=*/true, context);
  REQUIRE(std::holds_alternative<config>(present));
  CHECK(std::get<config>(present).min_ttl == std::chrono::seconds{5});
  CHECK(std::get<config>(present).organizations.at("acme").key_file == dir / "a.key");

  std::filesystem::remove_all(dir);
}

TEST_CASE("audit_log: a path resolved like the others, or \"-\" for the daemon's own log") {
  CHECK_FALSE(parse_ok("{}").audit_log.has_value());
  CHECK(parse_ok(R"({"audit_log": "audit.log"})").audit_log ==
        std::filesystem::path("/etc/actoken/audit.log"));
  CHECK(parse_ok(R"({"audit_log": "/var/log/actoken/audit.log"})").audit_log ==
        std::filesystem::path("/var/log/actoken/audit.log"));
  // "-" is not a file named "-" beside the config.
  CHECK(parse_ok(R"({"audit_log": "-"})").audit_log == std::filesystem::path("-"));
}
