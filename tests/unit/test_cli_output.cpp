#include "client/commands.hpp"
#include "client/output.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <pty.h>
#include <unistd.h>

#include <map>
#include <string>

using actoken::client::colour;
using actoken::client::format_duration;
using actoken::client::format_expires_in;
using actoken::client::format_table;
using actoken::client::table_cell;

namespace {

actoken::env_lookup fake_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const char* name) -> const char* {
    const auto it = values.find(name);
    return it == values.end() ? nullptr : it->second.c_str();
  };
}

}  // namespace

TEST_CASE("durations keep at most two units, rounded down") {
  CHECK(format_duration(-5) == "0s");
  CHECK(format_duration(0) == "0s");
  CHECK(format_duration(1) == "1s");
  CHECK(format_duration(59) == "59s");
  CHECK(format_duration(60) == "1m");
  CHECK(format_duration(42 * 60 + 59) == "42m");
  CHECK(format_duration(3599) == "59m");
  CHECK(format_duration(3600) == "1h");
  CHECK(format_duration(3600 + 5 * 60 + 30) == "1h 5m");
  CHECK(format_duration(86399) == "23h 59m");
  CHECK(format_duration(86400) == "1d");
  CHECK(format_duration(2 * 86400 + 3 * 3600 + 59) == "2d 3h");
}

TEST_CASE("expiry reads \"in 42m\", \"in 1h 5m\" or \"expired\"") {
  CHECK(format_expires_in(42 * 60) == "in 42m");
  CHECK(format_expires_in(65 * 60) == "in 1h 5m");
  CHECK(format_expires_in(30) == "in 30s");
  CHECK(format_expires_in(0) == "expired");
  CHECK(format_expires_in(-100) == "expired");
}

TEST_CASE("tables align columns, two spaces apart, without trailing blanks") {
  const auto table =
      format_table({"ORG", "STATE", "LAST"},
                   {{{"acme"}, {"ok"}, {"-"}}, {{"a"}, {"backoff"}, {"upstream down"}}}, false);
  CHECK(table ==
        "ORG   STATE    LAST\n"
        "acme  ok       -\n"
        "a     backoff  upstream down\n");
}

TEST_CASE("empty trailing cells end the line early") {
  const auto table = format_table({"A", "B"}, {{{"x"}, {""}}}, false);
  CHECK(table == "A  B\nx\n");
}

TEST_CASE("widths count characters, not UTF-8 bytes") {
  const auto table = format_table({"N", "X"}, {{{"\xC3\xA9t\xC3\xA9"}, {"1"}}}, false);
  CHECK(table == "N    X\n\xC3\xA9t\xC3\xA9  1\n");
}

TEST_CASE("colour wraps cells but keeps the alignment") {
  const auto plain = format_table({"S", "T"}, {{{"ok", colour::green}, {"x"}}}, false);
  const auto coloured = format_table({"S", "T"}, {{{"ok", colour::green}, {"x"}}}, true);
  CHECK(plain == "S   T\nok  x\n");
  CHECK(coloured == "\x1b[1mS\x1b[0m   \x1b[1mT\x1b[0m\n\x1b[32mok\x1b[0m  x\n");
  CHECK(actoken::client::paint("x", colour::red, false) == "x");
  CHECK(actoken::client::paint("x", colour::red, true) == "\x1b[31mx\x1b[0m");
}

TEST_CASE("colour on a terminal, none when NO_COLOR is set, TERM is dumb, or not a terminal") {
  // A real terminal (a pseudo-terminal's far end), so that each refusal below
  // is the variable's doing, not the descriptor's: under ctest no standard
  // descriptor is a terminal.
  int terminal = -1;
  int far_end = -1;
  REQUIRE(::openpty(&far_end, &terminal, nullptr, nullptr, nullptr) == 0);
  REQUIRE(::isatty(terminal) == 1);
  CHECK(actoken::client::colour_enabled(terminal, fake_env({})));
  CHECK(actoken::client::colour_enabled(terminal, fake_env({{"TERM", "xterm-256color"}})));
  CHECK_FALSE(actoken::client::colour_enabled(terminal, fake_env({{"NO_COLOR", "1"}})));
  CHECK_FALSE(actoken::client::colour_enabled(terminal, fake_env({{"NO_COLOR", "0"}})));
  CHECK_FALSE(actoken::client::colour_enabled(terminal, fake_env({{"TERM", "dumb"}})));
  // no-color.org: an empty NO_COLOR does not count.
  CHECK(actoken::client::colour_enabled(terminal, fake_env({{"NO_COLOR", ""}})));
  ::close(terminal);
  ::close(far_end);

  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  CHECK_FALSE(actoken::client::colour_enabled(fds[1], fake_env({})));
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK_FALSE(actoken::client::colour_enabled(-1, fake_env({})));
}

TEST_CASE("the orgs table shows the root token's expiry and the last error") {
  const auto body = nlohmann::ordered_json::parse(R"({"orgs":[
    {"name":"acme","state":"ok","last_error":null,
     "tokens":[{"sub_org":"9b2f6d1e-0000-4000-8000-000000000001","expires_in":60},
               {"sub_org":null,"expires_in":2520}]},
    {"name":"beta-corp","state":"rejected",
     "last_error":{"code":"key_rejected","message":"the key for beta-corp was rejected","at":"2024-01-01T00:00:00Z"},
     "tokens":[]},
    {"name":"c","state":"no_key","last_error":{"code":"no_key"}}
  ]})");
  CHECK(actoken::client::render_orgs(body, false) ==
        "ORG        STATE     TOKEN EXPIRES IN  LAST ERROR\n"
        "acme       ok        in 42m            -\n"
        "beta-corp  rejected  -                 the key for beta-corp was rejected\n"
        "c          no_key    -                 no_key\n");
}

TEST_CASE("the orgs table ends with a line per organization with sinks") {
  const auto body = nlohmann::ordered_json::parse(R"({"orgs":[
    {"name":"acme","state":"ok","last_error":null,"tokens":[],"sinks":[
      {"path":"/run/s/acme.env","format":"env","state":"ok","message":"","written_at":"2024-01-01T00:00:00Z"},
      {"path":"/tmp/acme","format":"token","state":"error","message":"folder /tmp is writable","written_at":null},
      {"path":"/run/s/acme.json","format":"json","state":"ok","message":"","written_at":"2024-01-01T00:00:00Z"}]},
    {"name":"beta","state":"ok","last_error":null,"tokens":[],"sinks":[]}
  ]})");
  CHECK(actoken::client::render_orgs(body, false) ==
        "ORG   STATE  TOKEN EXPIRES IN  LAST ERROR\n"
        "acme  ok     -                 -\n"
        "beta  ok     -                 -\n"
        "sinks of acme: 1 error, 2 ok (/tmp/acme: folder /tmp is writable)\n");
}

TEST_CASE("an empty orgs answer says how to add one") {
  const auto body = nlohmann::ordered_json::parse(R"({"orgs":[]})");
  CHECK(actoken::client::render_orgs(body, false).find("actoken key add ORG") != std::string::npos);
}

TEST_CASE("the status summary lists the daemon's counters") {
  const auto body = nlohmann::ordered_json::parse(R"({"version":"0.1.0","uptime_s":3900,
    "orgs":2,"cached_tokens":3,"requests_total":120,"exchanges_total":4,"connections":1,
    "last_reload":{"at":"2024-05-01T10:00:00Z","ok":false,"message":"bad config"}})");
  const auto text = actoken::client::render_status(body, "/run/actoken/actokend.sock");
  CHECK(text.starts_with("actokend 0.1.0 at /run/actoken/actokend.sock\n"));
  CHECK(text.find("  uptime:         1h 5m\n") != std::string::npos);
  CHECK(text.find("  cached tokens:  3\n") != std::string::npos);
  CHECK(text.find("  requests:       120\n") != std::string::npos);
  CHECK(text.find("  last reload:    failed at 2024-05-01T10:00:00Z: bad config\n") !=
        std::string::npos);

  const auto minimal = actoken::client::render_status(nlohmann::ordered_json::object(), "/s");
  CHECK(minimal.find("  organizations:  -\n") != std::string::npos);
  CHECK(minimal.find("  last reload:    none since start\n") != std::string::npos);
}

// A daemon of another version (or a broken one) may answer fields missing or
// of other types: every renderer takes what it can and shows "-" or "?" for
// the rest, never throws, never drops a row it can read.
TEST_CASE("odd answers: fields missing or of the wrong type still render") {
  using json = nlohmann::ordered_json;
  const auto orgs = json::parse(R"({"orgs":[
    {"name":"acme","state":"ok","tokens":"none"},
    {"name":"beta","state":"backoff","last_error":"not an object",
     "tokens":[5,{"sub_org":"9b2f6d1e-0000-4000-8000-000000000001","expires_in":100},
               {"expires_in":"soon"},{"sub_org":null,"expires_in":90}]},
    7,
    {"name":"gamma","state":"error","sinks":[{"state":"ok"},
      {"state":"error","path":"/s","message":"bad"},{"state":"error","path":"/t","message":"worse"}]}
  ]})");
  CHECK(actoken::client::render_orgs(orgs, false) ==
        "ORG    STATE    TOKEN EXPIRES IN  LAST ERROR\n"
        "acme   ok       -                 -\n"
        "beta   backoff  in 1m             -\n"
        "gamma  error    -                 -\n"
        "sinks of gamma: 2 error, 1 ok (/s: bad)\n");
  for (const char* odd : {R"([1,2])", R"({})", R"({"orgs":5})", R"({"orgs":[]})"}) {
    CAPTURE(odd);
    CHECK(actoken::client::render_orgs(json::parse(odd), false) ==
          "no organizations; add one with `actoken key add ORG`\n");
  }

  const auto whoami = json::parse(R"({"groups":[{"name":"wheel"},{"gid":3}],"admin":true,
    "orgs":[5,{"name":"a","via":"users: x","root":"yes","sub_orgs":"none","any_sub_org":"yes"}]})");
  CHECK(actoken::client::render_whoami(whoami) ==
        "uid ?, gid ?\n"
        "groups: wheel (?), 3\n"
        "admin: yes\n"
        "ORG  VIA       SUB-ORGANIZATIONS\n"
        "a    users: x  -\n");
  CHECK(actoken::client::render_whoami(json::parse(R"({"groups":"x","admin":"yes","orgs":{}})")) ==
        "uid ?, gid ?\ngroups: -\nadmin: no\nno organizations you may use\n");

  const auto status = json::parse(
      R"({"version":"9","last_reload":{"at":"2030-01-01T00:00:00Z","ok":"yes","message":""}})");
  CHECK(actoken::client::render_status(status, "/s")
            .find("  last reload:    failed at "
                  "2030-01-01T00:00:00Z\n") != std::string::npos);
  CHECK(actoken::client::render_status(json::parse(R"({"last_reload":5})"), "/s")
            .find("  last reload:    none since start\n") != std::string::npos);
}
