// What the auth server sends is not trusted (issue 10): a key it echoes back
// in any encoding never reaches an answer, /v1/orgs or the log; a token that
// is not a plain bearer token, an exp already past and a Date of 1970 are
// refused or bounded; and one organization's callers cannot spend another's
// exchange budget. The real actokend and actoken against the stand-in auth
// server over real HTTPS on 127.0.0.1.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/echo.hpp"
#include "tests/stand_in/encoding.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

namespace {

// A stand-in and a folder with its CA; the daemon starts when the test has
// added its organizations.
struct world : daemon_world {
  explicit world(json extra = json::object())
      : daemon_world({.config = std::move(extra), .acme_key = false, .start_daemon = false}) {}

  // Registers a new key for organization `org` at the stand-in and as key_dir/<org>.key.
  std::string add_org(const std::string& org) {
    auto org_key = awkward_key();
    upstream.add_account(org_key, "6f1c2a8e-0000-4000-8000-" + stand_in::random_hex(6));
    dir.write("keys/" + org + ".key", org_key + "\n");
    return org_key;
  }
};

// Every string inside a JSON document, keys and values.
void collect_strings(const json& value, std::vector<std::string>& out) {
  if (value.is_string()) {
    out.push_back(value.get<std::string>());
  } else if (value.is_structured()) {
    for (const auto& [name, item] : value.items()) {
      out.push_back(name);
      collect_strings(item, out);
    }
  }
}

// Checks that `text` (and, when it is JSON, every string in it) holds none of
// `keys` in any encoding the stand-in can echo them in.
void check_no_trace(const std::string& where, const std::string& text,
                    const std::vector<std::string>& keys) {
  std::vector<std::string> texts{text};
  collect_strings(json::parse(text, nullptr, false), texts);
  std::vector<std::string> found;  // the encodings seen
  for (const auto& key : keys) {
    for (const auto encoding : stand_in::all_echo_encodings) {
      const auto form = stand_in::encode_echo(key, encoding);
      for (const auto& candidate : texts) {
        if (candidate.find(form) != std::string::npos) {
          found.emplace_back(stand_in::to_string(encoding));
        }
      }
    }
  }
  INFO(where);
  CHECK(found == std::vector<std::string>{});
}

// The number of lines `text` has (a last line without a newline counts).
std::size_t lines(const std::string& text) {
  std::size_t n = 0;
  for (std::size_t start = 0; start < text.size(); ++n) {
    const auto end = text.find_first_of("\r\n", start);
    if (end == std::string::npos) return n + 1;
    start = end + 1;
  }
  return n;
}

std::string random_guid() {
  const auto hex = stand_in::random_hex(16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

}  // namespace

TEST_CASE("a key echoed in any encoding leaves no trace in the answer, /v1/orgs or the log") {
  world w;
  std::map<stand_in::echo_encoding, std::string> keys;  // one organization per encoding
  for (const auto encoding : stand_in::all_echo_encodings) {
    keys[encoding] = w.add_org(std::string(stand_in::to_string(encoding)));
  }
  std::vector<std::string> all_keys;
  for (const auto& [encoding, key] : keys) all_keys.push_back(key);
  w.start();

  for (const auto& [encoding, key] : keys) {
    const std::string org(stand_in::to_string(encoding));
    CAPTURE(org);
    w.tune([encoding = encoding](stand_in::behaviour& b) { b.echo_key = encoding; });
    const auto reply = w.daemon->get("/v1/token?org=" + org);
    CHECK(reply.status == 502);
    CHECK(reply.json()["error"] == "key_rejected");
    CHECK(reply.json()["message"] ==
          "organization " + org +
              ": the auth server rejected the key (HTTP 401): upstream text withheld: it "
              "contained the key");
    check_no_trace("the 502 answer", reply.body, all_keys);
    const auto view = w.org_view(org);
    CHECK(view["last_error"]["message"].get<std::string>().ends_with(
        "upstream text withheld: it contained the key"));
  }
  // The stand-in did echo every key, each in its encoding.
  CHECK(w.upstream.exchanges() == keys.size());

  check_no_trace("/v1/orgs", w.daemon->get("/v1/orgs").body, all_keys);
  check_no_trace("the daemon's log", w.daemon->log(), all_keys);
}

TEST_CASE("a token with CR/LF, ESC or NUL inside is a 502, and actoken header prints one line") {
  const std::map<std::string, std::string> suffixes{
      {"CR/LF", "\r\nX-Injected: 1"}, {"ESC", "\x1b[2J"}, {"NUL", std::string("\0tail", 5)}};
  for (const auto& entry : suffixes) {
    const std::string& suffix = entry.second;
    CAPTURE(entry.first);
    daemon_world w;
    w.tune([&suffix](stand_in::behaviour& b) { b.token_suffix = suffix; });

    const auto header = w.cli({"header", "acme"});
    CHECK(header.exit_code != 0);
    CHECK(lines(header.out) <= 1);
    CHECK(header.out.find("X-Injected") == std::string::npos);
    CHECK(header.out.find('\x1b') == std::string::npos);

    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 502);
    CHECK(reply.json()["error"] == "bad_upstream_response");
    CHECK(reply.body.find("X-Injected") == std::string::npos);
    CHECK(w.upstream.successful_exchanges() >= 1);  // the stand-in did hand it out
  }
}

TEST_CASE("an exp already past is a 502 bad_upstream_response, with or without expires_in") {
  for (const bool send_expires_in : {true, false}) {
    CAPTURE(send_expires_in);
    daemon_world w;
    w.tune([send_expires_in](stand_in::behaviour& b) {
      b.token_lifetime = -60s;  // exp a minute before iat; expires_in -60
      b.send_expires_in = send_expires_in;
    });
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 502);
    CHECK(reply.json()["error"] == "bad_upstream_response");
  }
}

TEST_CASE("a Date of 1970 is ignored with a warning, and no token is kept past 24 h") {
  SUBCASE("a Date of 1970 with a one-hour token") {
    daemon_world w;
    w.tune([](stand_in::behaviour& b) {
      b.date_header = "Thu, 01 Jan 1970 00:00:00 GMT";
      b.send_expires_in = false;  // only the JWT's exp tells the lifetime
    });
    const auto reply = w.daemon->get("/v1/token?org=acme");
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["expires_in"].get<std::int64_t>() <= 3600);
    CHECK(reply.json()["expires_in"].get<std::int64_t>() >= 3500);
    CHECK(w.org_view("acme")["clock_skew_s"] == 0);
    CHECK(w.daemon->log().find("ignoring the auth server's Date header") != std::string::npos);
  }
  SUBCASE("a two-day token") {
    daemon_world w;
    w.tune([](stand_in::behaviour& b) { b.token_lifetime = 48h; });
    const auto reply = w.daemon->get("/v1/token?org=acme");
    REQUIRE(reply.status == 200);
    CHECK(reply.json()["expires_in"].get<std::int64_t>() <= 86400);
    CHECK(reply.json()["expires_in"].get<std::int64_t>() >= 86400 - 100);
  }
}

TEST_CASE("6 rejected random sub-organizations do not stop another organization") {
  world w(json{{"max_exchanges_per_minute", 5}});
  w.add_org("acme");
  w.add_org("beta");
  w.start();

  // acme's caller asks for sub-organizations that do not exist: the stand-in
  // rejects each (403) until acme's budget of 5 a minute is spent.
  std::vector<unsigned> statuses;
  for (int i = 0; i < 6; ++i) {
    statuses.push_back(w.daemon->get("/v1/token?org=acme&sub_org=" + random_guid()).status);
  }
  CHECK(statuses == std::vector<unsigned>{502, 502, 502, 502, 502, 503});
  CHECK(w.upstream.exchanges() == 5);

  const auto beta = w.cli({"token", "beta"});
  CHECK(beta.exit_code == 0);
  CHECK(beta.out.size() > 20);
  CHECK(w.upstream.successful_exchanges() == 1);
}
