// The CLI's first hour (SPEC §5, issue 26): help and usage on the right stream
// with the right exit code, did-you-mean for commands and sub-organization
// aliases, `env` that pins only a socket where a daemon answers, the line a
// terminal shows while an exchange is slow (and never a pipe), `--json`
// failures as objects on stdout, and "next try in N s" from the daemon's own
// wait. The real actoken against the real daemon and the stand-in.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

namespace {

constexpr auto mobile_id = "6f1c2a8e-0000-4000-8000-0000000000a1";
constexpr auto web_id = "6f1c2a8e-0000-4000-8000-0000000000a2";

process_result actoken_run(std::vector<std::string> args,
                           const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), actoken_path());
  return run_process(args, env);
}

// actoken on a pseudo-terminal (stdin, stdout and stderr): what it showed, how it exited.
terminal_run on_a_terminal(const daemon_world& w, std::vector<std::string> args) {
  args.insert(args.begin(), {actoken_path(), "--socket", w.socket().string()});
  return run_on_terminal(args);
}

// "127.0.0.1:PORT" of the stand-in's URL: the host the progress line names.
std::string host_of(const std::string& url) { return url.substr(url.find("://") + 3); }

// N of "...; next try in N s" at the end of `err`, or -1.
long next_try_of(const std::string& err) {
  static const std::regex pattern("; next try in ([0-9]+) s\n$");
  std::smatch found;
  return std::regex_search(err, found, pattern) ? std::stol(found[1]) : -1;
}

}  // namespace

TEST_CASE("help and usage: help to stdout with 0, no command to stderr with 2") {
  for (const auto& asked : std::vector<std::vector<std::string>>{{"help"}, {"--help"}}) {
    const auto help = actoken_run(asked);
    CHECK(help.exit_code == 0);
    CHECK(help.err.empty());
    CHECK(help.out.find("Usage: actoken") != std::string::npos);
    CHECK(help.out.find("help COMMAND") != std::string::npos);
  }
  // Bare: the whole usage, on stderr (a script's stdout gets nothing), exit 2.
  const auto bare = actoken_run({});
  CHECK(bare.exit_code == 2);
  CHECK(bare.out.empty());
  CHECK(bare.err == actoken_run({"help"}).out);

  // `help COMMAND` is `COMMAND --help`, down to `key add`.
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"token"}, {"env"}, {"key"}, {"key", "add"}, {"appcircle-config"}}) {
    auto with_help = command;
    with_help.push_back("--help");
    auto help_first = command;
    help_first.insert(help_first.begin(), "help");
    const auto asked = actoken_run(help_first);
    CAPTURE(command.back());
    CHECK(asked.exit_code == 0);
    CHECK(asked.err.empty());
    CHECK(asked.out == actoken_run(with_help).out);
    CHECK(asked.out.find("Usage: actoken " + command.front()) != std::string::npos);
  }
}

TEST_CASE("an unknown command is a usage error with the nearest command, never an echoed key") {
  for (const auto& args : std::vector<std::vector<std::string>>{{"tokn"}, {"help", "tokn"}}) {
    const auto typo = actoken_run(args);
    CHECK(typo.exit_code == 2);
    CHECK(typo.out.empty());
    CHECK(typo.err == "actoken: no command tokn; did you mean token?\n");
  }
  const auto key_typo = actoken_run({"key", "ad", "acme"});
  CHECK(key_typo.exit_code == 2);
  CHECK(key_typo.err == "actoken: no command key ad; did you mean key add?\n");
  // Far from every command: the list.
  const auto far = actoken_run({"frobnicate"});
  CHECK(far.exit_code == 2);
  CHECK(far.err.find("no command frobnicate; expected token, header") != std::string::npos);
  // Something no command looks like (a pasted key) is not repeated.
  const std::string secret = "ac_pak_SeCrEtPasted0123456789abcdef";
  const auto pasted = actoken_run({secret});
  CHECK(pasted.exit_code == 2);
  CHECK(pasted.err.find("unknown command") != std::string::npos);
  CHECK(pasted.err.find("SeCrEt") == std::string::npos);
}

TEST_CASE("a mistyped --sub-org alias: the nearest alias the caller may use, from the daemon") {
  daemon_world w(world_options{
      .config = {{"organizations",
                  {{"acme", {{"sub_organizations", {{"mobile", mobile_id}, {"web", web_id}}}}}}}}});
  const auto typo = w.cli({"token", "acme", "--sub-org", "mobil"});
  CHECK(typo.exit_code == 1);
  CHECK(typo.out.empty());
  CHECK(typo.err == "actoken: no sub-organization mobil in acme; did you mean mobile?\n");
  // A curl user reads the same sentence.
  const auto raw = unix_request(w.socket(), "GET", "/v1/token?org=acme&sub_org=mobil");
  CHECK(raw.status == 400);
  CHECK(raw.json()["error"] == "bad_request");
  CHECK(raw.json()["message"] == "no sub-organization mobil in acme; did you mean mobile?");
  // Far from every alias: those the caller may use.
  const auto far = unix_request(w.socket(), "GET", "/v1/token?org=acme&sub_org=desktop");
  CHECK(far.json()["message"] ==
        "no sub-organization desktop in acme; its aliases you may use: mobile, web");
  // Not shaped like an alias (it may be a pasted key): not repeated.
  const auto pasted = unix_request(w.socket(), "GET", "/v1/token?org=acme&sub_org=SeCrEt%2Bkey%3D");
  CHECK(pasted.status == 400);
  CHECK(pasted.body.find("SeCrEt") == std::string::npos);
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("env with nothing listening: nothing on stdout, exit 3, and how to start a daemon") {
  temp_dir dir;
  const auto stale = dir.path() / "run" / "actokend.sock";
  fs::create_directories(stale.parent_path());
  {
    // A socket file with nobody behind it, as a daemon killed with -9 leaves.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, stale.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    ::close(fd);
  }
  const auto missing = (dir.path() / "none" / "actokend.sock").string();
  const std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>> ways{
      {{"--socket", missing, "env"}, {}},
      {{"env"}, {{"ACTOKEN_SOCKET", missing}}},
      {{"--socket", stale.string(), "env", "--shell", "fish"}, {}},
  };
  for (const auto& [args, env] : ways) {
    const auto result = actoken_run(args, env);
    CAPTURE(result.err);
    CHECK(result.exit_code == 3);
    CHECK(result.out.empty());
    CHECK(result.err.find("eval \"$(actokend --detach)\"") != std::string::npos);
  }
  // With a daemon there, the line for its socket.
  daemon_world w;
  const auto line = actoken_run({"--socket", w.socket().string(), "env", "--shell", "sh"});
  CHECK(line.exit_code == 0);
  CHECK(line.out == "ACTOKEN_SOCKET=" + w.socket().string() + "; export ACTOKEN_SOCKET;\n");
}

TEST_CASE("a slow exchange on a terminal says what it waits for, then clears the line") {
  daemon_world w;
  w.tune([](auto& b) { b.delay = 1500ms; });  // the answer cannot come before 1.5 s
  const auto slow = on_a_terminal(w, {"token", "acme"});
  CHECK(slow.exit_code == 0);
  const auto line = "actoken: exchanging acme's key at " + host_of(w.upstream.url()) + "…";
  const auto shown = slow.seen.find(line);
  REQUIRE_MESSAGE(shown != std::string::npos, slow.seen);
  // Cleared (carriage return, erase to the end of the line) before the token is printed.
  const auto cleared = slow.seen.find("\r\x1b[K", shown + line.size());
  CHECK(cleared == shown + line.size());
  const auto token = unix_request(w.socket(), "GET", "/v1/token?org=acme").json();
  CHECK(slow.seen.find(token["access_token"].get<std::string>(), cleared) != std::string::npos);

  // Cached: answered at once, no line at all.
  const auto cached = on_a_terminal(w, {"token", "acme"});
  CHECK(cached.exit_code == 0);
  CHECK(cached.seen.find("actoken:") == std::string::npos);

  // Piped stderr never gets it, however slow.
  REQUIRE(unix_request(w.socket(), "DELETE", "/v1/tokens?org=acme").status == 200);
  const auto piped = w.cli({"token", "acme"});
  CHECK(piped.exit_code == 0);
  CHECK(piped.err.empty());
  CHECK(piped.out.find("exchanging") == std::string::npos);
}

TEST_CASE("--json failures: the error object on stdout, the same exit code, the line on stderr") {
  daemon_world w;
  // The daemon's own error object.
  const auto unknown = w.cli({"--json", "token", "acmee"});
  CHECK(unknown.exit_code == 5);
  const auto object = json::parse(unknown.out, nullptr, false);
  REQUIRE_MESSAGE(object.is_object(), unknown.out);
  CHECK(object["error"] == "unknown_org");
  CHECK(object["message"] == "no organization named acmee");
  CHECK(unknown.err == "actoken: no organization named acmee; did you mean acme?\n");

  // The CLI's own: no daemon, a usage error.
  const auto unreachable = actoken_run({"token", "acme", "--json"},
                                       {{"ACTOKEN_SOCKET", (w.dir.path() / "no.sock").string()}});
  CHECK(unreachable.exit_code == 3);
  const auto gone = json::parse(unreachable.out, nullptr, false);
  REQUIRE_MESSAGE(gone.is_object(), unreachable.out);
  CHECK(gone["error"] == "daemon_unreachable");
  CHECK(gone["message"].get<std::string>().find("no.sock") != std::string::npos);
  CHECK(unreachable.err.rfind("actoken: cannot reach actokend at ", 0) == 0);

  const auto usage = actoken_run({"--json", "token", "--min-ttl", "forever"});
  CHECK(usage.exit_code == 2);
  const auto wrong = json::parse(usage.out, nullptr, false);
  REQUIRE_MESSAGE(wrong.is_object(), usage.out);
  CHECK(wrong["error"] == "usage");
  CHECK(wrong["message"].get<std::string>().find("--min-ttl") != std::string::npos);
  CHECK(usage.err.rfind("actoken: --min-ttl", 0) == 0);

  // An upstream failure: 7, with the daemon's object.
  w.tune([](auto& b) { b.forced_status = 503; });
  const auto down = w.cli({"token", "acme", "--json"});
  CHECK(down.exit_code == 7);
  CHECK(json::parse(down.out, nullptr, false)["error"] == "upstream_unavailable");
}

TEST_CASE("a failure while the daemon backs off or rests says when it tries again") {
  SUBCASE("backoff: the daemon's own wait, at least what the auth server asked") {
    daemon_world w;
    w.tune([](auto& b) {
      b.forced_status = 503;
      b.retry_after = "5";  // longer than the first backoff step (at most 1 s)
    });
    const auto first = w.cli({"token", "acme"});
    CHECK(first.exit_code == 7);
    CHECK_MESSAGE(next_try_of(first.err) == 5, first.err);
    // Asked again at once: no exchange, the wait that is left.
    const auto again = w.cli({"token", "acme"});
    CHECK(again.exit_code == 7);
    const auto left = next_try_of(again.err);
    CHECK_MESSAGE((left >= 1 && left <= 5), again.err);
    CHECK(w.upstream.exchanges() == 1);
  }
  SUBCASE("rest after rejection: retry_rejected_after, not the auth server's Retry-After") {
    daemon_world w(world_options{.config = {{"retry_rejected_after", 120}}});
    w.tune([](auto& b) {
      b.forced_status = 401;
      b.retry_after = "7";
    });
    const auto rejected = w.cli({"token", "acme"});
    CHECK(rejected.exit_code == 6);
    CHECK_MESSAGE(next_try_of(rejected.err) == 120, rejected.err);
    const auto resting = unix_request(w.socket(), "GET", "/v1/token?org=acme");
    CHECK(resting.status == 502);
    REQUIRE(resting.headers.count("retry-after") == 1);
    const auto left = std::stol(resting.headers.at("retry-after"));
    CHECK((left >= 1 && left <= 120));
  }
  SUBCASE("a key that was not kept holds nothing back: Retry-After 1, not the server's hour") {
    daemon_world w;
    w.tune([](auto& b) {
      b.forced_status = 503;
      b.retry_after = "3600";
    });
    const auto put = unix_request(w.socket(), "PUT", "/v1/orgs/beta/key",
                                  R"({"key": "new-key", "verify": true})");
    CHECK(put.status == 503);
    CHECK(put.headers.at("retry-after") == "1");
  }
}
