// The config parser (SPEC §2): defaults by mode, type checks that name the
// key, unknown keys, comments, socket_mode, sub-organizations, key_file
// resolution, and how broken text is reported. Pure: text in, config out
// (load_config alone reads a file).
#include "daemon/settings/config.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_files.hpp"

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

TEST_CASE("take_proxy: the top-level proxy URL out of the text before the JSON library sees it") {
  const std::string text = R"(// a comment with "proxy": "not this"
{
  /* "proxy": "nor this" */ "socket": "/run/x.sock",
  "organizations": {"acme": {"proxy": "nested is not top-level"}, "b": [1, {"c": null}]},
  "pro\u0078y" : "http://bob:pw-s3cret\u0040x\/@proxy:3128", "min_ttl": 30
})";
  platform::secure_buffer buffer(text);
  const auto taken = take_proxy(buffer);
  REQUIRE(taken.has_value());
  CHECK(taken->view() == "http://bob:pw-s3cret@x/@proxy:3128");
  // The literal is now `""` and spaces, the rest as it was.
  CHECK(buffer.size() == text.size());
  CHECK(buffer.view().find("s3cret") == std::string_view::npos);
  CHECK(buffer.view().find(R"("pro\u0078y" : "" )") != std::string_view::npos);
  CHECK(buffer.view().find("nested is not top-level") != std::string_view::npos);
  CHECK(buffer.view().find(R"("min_ttl": 30)") != std::string_view::npos);

  // The last of two, as the parser keeps; none; a proxy that is not a string;
  // text the cursor cannot walk (the parser reports it).
  platform::secure_buffer two(R"({"proxy": "http://a", "proxy": "http://b"})");
  CHECK(take_proxy(two)->view() == "http://b");
  CHECK(two.view() == R"({"proxy": ""        , "proxy": ""        })");
  for (const char* other :
       {R"({"socket": "/x"})", R"({"proxy": 3})", "[1]", R"({"a": })", "", "/* open"}) {
    platform::secure_buffer none(other);
    CHECK_FALSE(take_proxy(none).has_value());
    CHECK(none.view() == other);
  }
}

TEST_CASE("proxy: read from the text taken out, also among comments and escapes") {
  const auto cfg = parse_ok(R"({
    // the proxy of the office
    "proxy": /* with its password */ "http://bob:pw\u0040x@10.0.0.1:8080",
    "min_ttl": 30})");
  REQUIRE(cfg.proxy.has_value());
  CHECK(cfg.proxy->view() == "http://bob:pw@x@10.0.0.1:8080");
  CHECK(cfg.min_ttl == std::chrono::seconds{30});
  // Not a string: the problem as before.
  const auto problems = parse_bad(R"({"proxy": ["http://bob:pw-s3cret@proxy"]})");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].to_string() == "/etc/actoken/actokend.json: proxy: must be a string");
}

TEST_CASE("a config that is not JSON is never quoted in its problem: a proxy password stays out") {
  // A raw control character inside the proxy string: the parser stops there,
  // and its message would end "; last read: '\"http://bob:pw-s3cret...'".
  const auto problems = parse_bad("{\"proxy\": \"http://bob:pw-s3cret\x01@proxy:3128\"}");
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].reason.starts_with("not valid JSON: "));
  CHECK(problems[0].reason.find("line 1") != std::string::npos);
  CHECK(problems[0].to_string().find("s3cret") == std::string::npos);
  CHECK(problems[0].to_string().find("last read") == std::string::npos);
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
  CHECK(subs.entries().size() == 2);
  CHECK(subs.by_alias("mobile")->id == "9b2f6d1e-0000-4000-8000-00000000000a");
  CHECK(subs.by_alias("web")->id == "9b2f6d1e-0000-4000-8000-000000000002");
  CHECK(subs.by_id("9b2f6d1e-0000-4000-8000-00000000000a") == subs.by_alias("mobile"));
  CHECK_FALSE(subs.by_alias("mobile")->allow);
  CHECK(subs.any_sub_org);

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

TEST_CASE("sub_organizations: the object form carries an allow of its own; any_sub_org") {
  const auto cfg = parse_ok(R"({"organizations": {"acme": {
    "allow": {"groups": ["actoken-admin"]},
    "any_sub_org": false,
    "sub_organizations": {
      "mobile": {"id": "9B2F6D1E-0000-4000-8000-000000000001",
                 "allow": {"groups": ["team-mobile", 2001], "users": [1001]}},
      "ios": {"id": "9b2f6d1e-0000-4000-8000-000000000001",
              "allow": {"users": [1001], "groups": [2001, "team-mobile"]}},
      "web": {"id": "9b2f6d1e-0000-4000-8000-000000000002"},
      "data": "9b2f6d1e-0000-4000-8000-000000000003"}}}})");
  const auto& subs = cfg.organizations.at("acme").sub_organizations;
  CHECK_FALSE(subs.any_sub_org);
  CHECK(subs.entries().size() == 4);
  const auto* mobile = subs.by_alias("mobile");
  REQUIRE(mobile != nullptr);
  CHECK(mobile->id == "9b2f6d1e-0000-4000-8000-000000000001");
  REQUIRE(mobile->allow);
  CHECK(mobile->allow->group_names == std::vector<std::string>{"team-mobile"});
  CHECK(mobile->allow->gids == std::vector<gid_t>{2001});
  CHECK(mobile->allow->uids == std::vector<uid_t>{1001});
  // The same GUID under two aliases, with the same allow in another order: one
  // entry by id, named by its first alias.
  CHECK(*subs.alias_of("9b2f6d1e-0000-4000-8000-000000000001") == "ios");
  CHECK(subs.by_id("9b2f6d1e-0000-4000-8000-000000000001") == subs.by_alias("ios"));
  CHECK_FALSE(subs.by_alias("web")->allow);  // the object form without an allow
  CHECK(subs.by_alias("data")->id == "9b2f6d1e-0000-4000-8000-000000000003");
  CHECK(subs.by_id("9b2f6d1e-0000-4000-8000-000000000004") == nullptr);
  // any_sub_org defaults to true.
  CHECK(parse_ok(R"({"organizations": {"beta": {}}})")
            .organizations.at("beta")
            .sub_organizations.any_sub_org);
}

TEST_CASE("sub_organizations: a bad id, an unknown key, a GUID with two allows are problems") {
  const std::string open = R"({"organizations": {"acme": {"sub_organizations": {)";
  const std::string close = "}}}}";
  const auto mobile = std::string("organizations.acme.sub_organizations.mobile");
  check_one_problem(open + R"("mobile": {"id": "mobile-team"})" + close, mobile + ".id");
  check_one_problem(open + R"("mobile": {"id": 7})" + close, mobile + ".id");
  check_one_problem(open + R"("mobile": {"allow": {}})" + close, mobile + ".id");
  check_one_problem(
      open + R"("mobile": {"id": "9b2f6d1e-0000-4000-8000-000000000001", "alow": {}})" + close,
      mobile + ".alow");
  check_one_problem(
      open + R"("mobile": {"id": "9b2f6d1e-0000-4000-8000-000000000001", "allow": []})" + close,
      mobile + ".allow");
  check_one_problem(open +
                        R"("mobile": {"id": "9b2f6d1e-0000-4000-8000-000000000001",
                                      "allow": {"users": ["builder"], "roles": []}})" +
                        close,
                    mobile + ".allow.roles");
  check_one_problem(open + R"("9b2f6d1e-0000-4000-8000-000000000009":
                                 "9b2f6d1e-0000-4000-8000-000000000001")" +
                        close,
                    "organizations.acme.sub_organizations.9b2f6d1e-0000-4000-8000-000000000009");

  // One GUID under two aliases: one cache key, so one allow.
  const auto twice = parse_bad(open + R"(
      "ios": {"id": "9b2f6d1e-0000-4000-8000-000000000001", "allow": {"groups": ["mobile"]}},
      "mobile": {"id": "9B2F6D1E-0000-4000-8000-000000000001", "allow": {"groups": ["web"]}})" +
                               close);
  REQUIRE(twice.size() == 1);
  CHECK(twice[0].key == mobile);
  CHECK(twice[0].reason ==
        "lists 9b2f6d1e-0000-4000-8000-000000000001 as ios does, with a different allow: a "
        "sub-organization has one allow whichever alias names it");
  // With an allow under one alias and none under the other, too.
  check_one_problem(open + R"(
      "ios": {"id": "9b2f6d1e-0000-4000-8000-000000000001", "allow": {"groups": ["mobile"]}},
      "mobile": "9b2f6d1e-0000-4000-8000-000000000001")" +
                        close,
                    mobile);

  check_one_problem(R"({"organizations": {"acme": {"any_sub_org": "no"}}})",
                    "organizations.acme.any_sub_org");
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
  const actoken::testing::scratch_dir scratch("actoken-config-test");
  const std::filesystem::path& dir = scratch.path();
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

// Sinks (SPEC §6): path, format, sub_org, mode and group, each checked by key.
TEST_CASE("sinks: every field read, the sub_org alias resolved, mode 0600 by default") {
  const auto cfg = parse_ok(R"({"organizations": {"acme": {
      "sub_organizations": {"mobile": "9B2F6D1E-0000-4000-8000-000000000001"},
      "sinks": [
        {"path": "/run/s/acme.token", "format": "token"},
        {"path": "~/acme.env", "format": "env", "mode": "0640", "group": "ci"},
        {"path": "/run/s/mobile.json", "format": "json", "sub_org": "mobile", "group": 4},
        {"path": "/run/s/guid", "format": "appcircle-cli", "sub_org": "6F1C2A8E-0000-4000-8000-000000000002", "mode": "644"}
      ]}}})");
  const auto& sinks = cfg.organizations.at("acme").sinks;
  REQUIRE(sinks.size() == 4);
  CHECK(sinks[0].path == "/run/s/acme.token");
  CHECK(sinks[0].format == sink_format::token);
  CHECK(sinks[0].mode == 0600);
  CHECK(sinks[0].sub_org.empty());
  CHECK_FALSE(sinks[0].group);
  CHECK(sinks[1].path == "~/acme.env");
  CHECK(sinks[1].format == sink_format::env);
  CHECK(sinks[1].mode == 0640);
  CHECK(sinks[1].group == "ci");
  CHECK_FALSE(sinks[1].gid);  // a name: resolved at load (name_resolution)
  CHECK(sinks[2].format == sink_format::json);
  CHECK(sinks[2].sub_org_label == "mobile");
  CHECK(sinks[2].sub_org == "9b2f6d1e-0000-4000-8000-000000000001");
  CHECK(sinks[2].gid == gid_t{4});
  CHECK(sinks[3].format == sink_format::appcircle_cli);
  CHECK(sinks[3].sub_org == "6f1c2a8e-0000-4000-8000-000000000002");
  CHECK(sinks[3].mode == 0644);
  CHECK(to_string(sink_format::appcircle_cli) == "appcircle-cli");
}

TEST_CASE("sinks: each mistake names its key") {
  const auto problems = parse_bad(R"({"organizations": {"acme": {"sinks": [
      {"format": "token"},
      {"path": "token", "format": "token"},
      {"path": "/run/s/", "format": "token"},
      {"path": "/run/s/a", "format": "yaml"},
      {"path": "/run/s/b", "format": "token", "mode": "0660"},
      {"path": "/run/s/c", "format": "token", "mode": "0755"},
      {"path": "/run/s/d", "format": "token", "mode": "0400"},
      {"path": "/run/s/e", "format": "token", "mode": "rw"},
      {"path": "/run/s/f", "format": "token", "sub_org": "nobody"},
      {"path": "/run/s/g", "format": "token", "group": -1},
      {"path": "/run/s/a", "format": "env", "when": "always"}],
      "allow": {}}, "beta": {"sinks": {"path": "/x"}}}})");
  std::map<std::string, std::string> by_key;
  for (const auto& p : problems) by_key[p.key] = p.reason;
  const std::string at = "organizations.acme.sinks";
  CHECK(by_key[at + "[0].path"] == "is required");
  CHECK(by_key[at + "[1].path"].starts_with("must be an absolute path or start with ~/"));
  CHECK(by_key[at + "[2].path"].starts_with("must be an absolute path or start with ~/"));
  CHECK(by_key[at + "[3].format"].starts_with("must be \"token\""));
  CHECK(by_key[at + "[4].mode"].starts_with("may let group and others read, never write"));
  CHECK(by_key[at + "[5].mode"].starts_with("may let group and others read, never write"));
  CHECK(by_key[at + "[6].mode"] == "must let the daemon's own user read and write (0600 bits)");
  CHECK(by_key[at + "[7].mode"].starts_with("must be an octal string"));
  CHECK(by_key[at + "[8].sub_org"].starts_with("must be an alias"));
  CHECK(by_key[at + "[9].group"] == "must be a group name or a non-negative number");
  CHECK(by_key[at + "[10].when"] == "unknown key");
  CHECK(by_key[at + "[10].path"] == "is the same file as organizations.acme.sinks[3].path");
  CHECK(by_key["organizations.beta.sinks"].starts_with("must be a list"));
}

TEST_CASE("key_command: an argv array; the program an absolute path or a name on PATH") {
  auto cfg = parse_ok(R"({"organizations": {
    "acme": {"key_command": ["pass", "show", "appcircle/acme"]},
    "beta": {"key_command": ["/usr/bin/op", "read", "op://ci/beta/key"], "key_file": "beta.key"}}})");
  REQUIRE(cfg.organizations["acme"].key_command);
  CHECK(*cfg.organizations["acme"].key_command ==
        std::vector<std::string>{"pass", "show", "appcircle/acme"});
  REQUIRE(cfg.organizations["beta"].key_command);
  CHECK(cfg.organizations["beta"].key_command->front() == "/usr/bin/op");
  CHECK_FALSE(cfg.organizations["beta"].key_command->empty());

  const char* bad[] = {
      R"({"organizations": {"acme": {"key_command": "pass show acme"}}})",
      R"({"organizations": {"acme": {"key_command": []}}})",
      R"({"organizations": {"acme": {"key_command": ["pass", 1]}}})",
      R"({"organizations": {"acme": {"key_command": [""]}}})",
      R"({"organizations": {"acme": {"key_command": ["./get-key"]}}})",
      R"({"organizations": {"acme": {"key_command": ["bin/get-key"]}}})",
      R"({"organizations": {"acme": {"key_command": ["pass", "a\u0000b"]}}})",
  };
  for (const auto* text : bad) check_one_problem(text, "organizations.acme.key_command");
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

// Reading the file when the system fails (tests/fault), and what it holds at its limits.
TEST_CASE("load_config: a failing fstat or read is a problem; EINTR is retried; too large") {
  const actoken::testing::scratch_dir scratch("actoken-config-test");
  const std::filesystem::path& dir = scratch.path();
  const auto file = dir / "actokend.json";
  auto context = system_context();
  context.file = file;
  { std::ofstream(file) << R"({"min_ttl": 7})"; }
  const auto reason = [&](const actoken::testing::fault& planned) {
    const actoken::testing::fault_scope f(planned);
    const auto result = load_config(file, /*must_exist=*/true, context);
    CHECK(f.hits() == 1);
    const auto* problems = std::get_if<std::vector<config_problem>>(&result);
    REQUIRE(problems != nullptr);
    return problems->at(0).reason;
  };
  CHECK(reason({.call = "fstat", .error = EIO}) == "cannot read: Input/output error");
  CHECK(reason({.call = "read", .error = EIO}) == "cannot read: Input/output error");
  {
    const actoken::testing::fault_scope f({.call = "read", .error = EINTR});
    const auto result = load_config(file, /*must_exist=*/true, context);
    REQUIRE(std::holds_alternative<config>(result));
    CHECK(std::get<config>(result).min_ttl == std::chrono::seconds{7});
  }
  {
    // Shrank while read: what was there is parsed (here: nothing, all defaults).
    const actoken::testing::fault_scope f({.call = "read", .short_count = 0});
    CHECK(std::holds_alternative<config>(load_config(file, /*must_exist=*/true, context)));
  }
  // Under a file: ENOTDIR is "not there" for the default path, a problem for an explicit one.
  CHECK(std::holds_alternative<config>(load_config(file / "x.json", false, context)));
  CHECK(std::holds_alternative<std::vector<config_problem>>(
      load_config(file / "x.json", true, context)));
  std::filesystem::resize_file(file, 2 * 1024 * 1024);
  const auto big = load_config(file, /*must_exist=*/true, context);
  REQUIRE(std::holds_alternative<std::vector<config_problem>>(big));
  CHECK(std::get<std::vector<config_problem>>(big).at(0).reason.starts_with("is larger than"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("limits and shapes: numbers out of range, key_command lists, sink paths and groups") {
  const auto problems = parse_bad(R"({"max_connections": 100000000,
    "allow": {"users": [""], "groups": [-1, 3000000000]},
    "organizations": {
      "a": {"key_command": []},
      "b": {"key_command": ["/bin/x", 5]},
      "c": {"key_command": "pass show"},
      "d": {"sinks": [5, {"path": 7, "format": 8}, {"path": "/run/s/..", "format": "token"},
                      {"path": "/run/s/g", "format": "token", "group": ""},
                      {"path": "/run/s/h", "format": "token", "mode": ""},
                      {"path": "/run/s/i", "format": "token", "mode": 600}]}}})");
  std::map<std::string, std::string> by_key;
  for (const auto& p : problems) by_key[p.key] = p.reason;
  CHECK(by_key["max_connections"].starts_with("must be between"));
  CHECK(by_key["allow.users"] == "entries must be names or non-negative numbers");
  CHECK(by_key["allow.groups"] == "entries must be names or non-negative numbers");
  CHECK(by_key["organizations.a.key_command"].starts_with("must be a list of 1 to 64 strings"));
  CHECK(by_key["organizations.b.key_command"] ==
        "entries must be strings of at most 4096 bytes, without NUL");
  CHECK(by_key["organizations.c.key_command"].starts_with("must be a list of 1 to 64 strings"));
  CHECK(by_key["organizations.d.sinks[0]"].starts_with("must be an object like"));
  CHECK(by_key.contains("organizations.d.sinks[1].path"));
  CHECK(by_key.contains("organizations.d.sinks[1].format"));
  CHECK(by_key["organizations.d.sinks[2].path"] ==
        "must be an absolute path or start with ~/, and name a file");
  CHECK(by_key["organizations.d.sinks[3].group"] ==
        "must be a group name or a non-negative number");
  CHECK(by_key["organizations.d.sinks[4].mode"] ==
        R"(must be an octal string such as "0600" or "0640")");
  CHECK(by_key.contains("organizations.d.sinks[5].mode"));
}
