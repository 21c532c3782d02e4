// key_command (SPEC §2): the pure reading of what a command wrote, and real
// runs of small commands on an io_context (no sleeps: a short timeout is
// given to the run under test instead of the 10 s).
#include "daemon/keys/key_command.hpp"
#include "daemon/runtime/spawn.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <doctest/doctest.h>

#include <signal.h>

#include <string>
#include <vector>

using namespace actoken;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

platform::secure_buffer bytes(std::string_view text) { return platform::secure_buffer(text); }

platform::child_exit exit_code(int code) { return {true, code, 0}; }

// Runs `argv` to its end on a fresh io_context; `timeout` replaces the 10 s.
key_command_result run_to_end(std::vector<std::string> argv,
                              std::chrono::milliseconds timeout = key_command_timeout) {
  net::io_context io;
  auto run = std::make_shared<key_command_run>(io.get_executor(), "acme", std::move(argv), timeout);
  int done = 0;
  run->start([&done](const key_command_run&) { ++done; });
  CHECK(run->running());
  io.run();
  CHECK_FALSE(run->running());
  CHECK(done == 1);
  return run->result();
}

net::awaitable<void> wait_then_set(std::shared_ptr<key_command_run> run, bool& flag) {
  co_await run->wait();
  flag = true;
}

}  // namespace

TEST_CASE("sanitise_command_reason: the first line that says something, printable, capped") {
  CHECK(sanitise_command_reason("\n  \nerror: no such entry\nsecond line\n", "") ==
        "error: no such entry");
  CHECK(sanitise_command_reason("bad\x1b[31m red\x07 bell\r\n", "") == "bad[31m red bell");
  CHECK(sanitise_command_reason("caf\xc3\xa9", "") == "caf");
  const auto long_line = std::string(1000, 'x');
  const auto capped = sanitise_command_reason(long_line, "");
  CHECK(capped.size() == key_command_reason_limit + 3);
  CHECK(capped.ends_with("..."));
  CHECK(sanitise_command_reason("", "").empty());
}

TEST_CASE("sanitise_command_reason: a line that holds the key is withheld, in any encoding") {
  const std::string key = "Ab+Cd/Ef=Gh12345";
  const auto plain = sanitise_command_reason("bad key " + key + " given", key);
  CHECK(plain.find("withheld") != std::string::npos);
  CHECK(plain.find(key) == std::string::npos);
  const auto encoded = sanitise_command_reason("bad key Ab%2BCd%2FEf%3DGh12345", key);
  CHECK(encoded.find("withheld") != std::string::npos);
  CHECK(sanitise_command_reason("no such entry", key) == "no such entry");
}

TEST_CASE("sanitise_command_reason: the first line that says what failed, over a warning") {
  CHECK(sanitise_command_reason("gpg: WARNING: unsafe permissions on homedir\n"
                                "gpg: decryption failed: No secret key\n",
                                "") == "gpg: decryption failed: No secret key");
  CHECK(sanitise_command_reason("warning: x\nError: acme is not in the password store.\n", "") ==
        "Error: acme is not in the password store.");
  CHECK(sanitise_command_reason("note\nop: item NOT FOUND\n", "") == "op: item NOT FOUND");
  CHECK(sanitise_command_reason("hint\nsecret-tool: Permission DENIED\n", "") ==
        "secret-tool: Permission DENIED");
  CHECK(sanitise_command_reason("starting\nlookup FAILED\n", "") == "lookup FAILED");
  CHECK(sanitise_command_reason("reading store\nNo such entry\n", "") == "No such entry");
  // "No " in its own case only: "no " is too common a word to mean a failure.
  CHECK(sanitise_command_reason("first\nthere is no spoon\n", "") == "first");
  // None says what failed: the first line that says anything.
  CHECK(sanitise_command_reason("\n  \nwarning: slow\nstill slow\n", "") == "warning: slow");
  // Characters nothing shows are removed before the line is chosen and searched.
  CHECK(sanitise_command_reason("warning\ne\xE2\x80\x8Brror: gone\n", "") == "error: gone");
}

TEST_CASE("sanitise_command_reason: the key is searched for after what is not shown is removed") {
  const std::string key = "Ab+Cd/Ef=Gh12345xyz";
  std::string zero_width;
  std::string accented;
  std::string bidi;
  for (const char c : key) {
    zero_width += std::string(1, c) + "\xE2\x80\x8B";  // U+200B
    accented += std::string(1, c) + "\xC3\xA9";        // dropped from what is shown
    bidi += std::string(1, c) + "\xE2\x80\x8F\x1B";    // RLM and ESC
  }
  for (const auto& line : {zero_width, accented, bidi}) {
    CAPTURE(line);
    const auto reason = sanitise_command_reason("error: bad key " + line + "\n", key);
    CHECK(reason == "(its standard error held the key; withheld)");
  }
  // In every encoding of SPEC §6: base64 and hex too.
  CHECK(sanitise_command_reason("error: QWIrQ2QvRWY9R2gxMjM0NXh5eg==", key).find("withheld") !=
        std::string::npos);
  CHECK(sanitise_command_reason("error: 41622b43642f45663d4768313233343578797a", key)
            .find("withheld") != std::string::npos);
}

TEST_CASE("sanitise_command_reason: the key the organization already holds is withheld too") {
  const std::string held = "Ol+dK3y/HeLd=0123456";
  // A rerun (on reload, or after a rest) that fails and prints the key it
  // gave before: nothing new on standard output, the old key on standard error.
  CHECK(sanitise_command_reason("error: " + held + " is revoked\n", "", held) ==
        "(its standard error held the key; withheld)");
  CHECK(sanitise_command_reason("error: Ol%2BdK3y%2FHeLd%3D0123456\n", "other-key-here", held) ==
        "(its standard error held the key; withheld)");
  CHECK(sanitise_command_reason("error: no such entry\n", "", held) == "error: no such entry");
  const auto result = interpret_key_command(
      {"pass"}, bytes(""), bytes("Error: " + held + " expired\n"), exit_code(1), 10s, held);
  CHECK(result.key == nullptr);
  CHECK(result.problem.find(held) == std::string::npos);
  CHECK(result.problem.find("withheld") != std::string::npos);
}

TEST_CASE("command_label names the program only, never its arguments") {
  CHECK(command_label({"pass", "show", "appcircle/acme"}) == "key_command pass");
  CHECK(command_label({"/usr/bin/op\x1b", "read", "op://vault/acme"}) == "key_command /usr/bin/op");
}

TEST_CASE("interpret_key_command: the key is the first line of standard output, trimmed") {
  const std::vector<std::string> argv{"pass", "show", "acme"};
  auto result = interpret_key_command(argv, bytes("  s3cr3t-Key \nsecond line\n"), bytes(""),
                                      exit_code(0), 10s);
  REQUIRE(result.key);
  CHECK(result.key->view() == "s3cr3t-Key");
  CHECK(result.problem.empty());
  result =
      interpret_key_command(argv, bytes("no-newline-key"), bytes("warning\n"), exit_code(0), 10s);
  REQUIRE(result.key);
  CHECK(result.key->view() == "no-newline-key");
}

TEST_CASE("interpret_key_command: failures say why, with the first line of standard error") {
  const std::vector<std::string> argv{"pass", "show", "acme"};
  auto r = interpret_key_command(argv, bytes(""), bytes("Error: acme is not in the store.\n"),
                                 exit_code(1), 10s);
  CHECK_FALSE(r.key);
  CHECK(r.problem == "key_command pass failed (exit status 1): Error: acme is not in the store.");
  r = interpret_key_command(argv, bytes(""), bytes(""), platform::child_exit{false, 0, SIGSEGV},
                            10s);
  CHECK(r.problem ==
        "key_command pass failed (killed by signal SIGSEGV) (nothing on standard error)");
  r = interpret_key_command(argv, bytes("\n\n"), bytes(""), exit_code(0), 10s);
  CHECK(r.problem ==
        "key_command pass printed no key on its first line (nothing on standard "
        "error)");
  r = interpret_key_command(argv, bytes("two words\n"), bytes(""), exit_code(0), 10s);
  CHECK_FALSE(r.key);
  CHECK(r.problem.find("white space or control characters") != std::string::npos);
  r = interpret_key_command(argv, bytes(std::string(key_command_output_limit, 'a')), bytes(""),
                            exit_code(0), 10s);
  CHECK_FALSE(r.key);
  CHECK(r.problem.find("more than 64 KiB without a line end") != std::string::npos);
  r = interpret_key_command(argv, bytes("partial"), bytes("still thinking\n"), std::nullopt, 10s);
  CHECK(r.problem == "key_command pass timed out after 10 s and was killed: still thinking");
}

TEST_CASE("interpret_key_command: a failing command that echoes its key on stderr is withheld") {
  const std::string key = "Zz9-echoed-key-0042";
  const auto r = interpret_key_command({"get-key"}, bytes(key + "\n"),
                                       bytes("refusing to print " + key + "\n"), exit_code(2), 10s);
  CHECK_FALSE(r.key);
  CHECK(r.problem.find(key) == std::string::npos);
  CHECK(r.problem.find("withheld") != std::string::npos);
}

TEST_CASE("key_command_run: a real command's first line becomes the key") {
  const auto r = run_to_end({"/bin/sh", "-c", "printf '  k3y-From-Sh \\nsecond\\n'"});
  REQUIRE(r.key);
  CHECK(r.key->view() == "k3y-From-Sh");
}

TEST_CASE("key_command_run: a bare name is looked up on PATH; a missing one says so") {
  auto r = run_to_end({"sh", "-c", "echo from-path"});
  REQUIRE(r.key);
  CHECK(r.key->view() == "from-path");
  r = run_to_end({"actoken-no-such-program-here"});
  CHECK_FALSE(r.key);
  CHECK(r.problem ==
        "key_command actoken-no-such-program-here: cannot run: actoken-no-such-program-here: not "
        "found on PATH");
}

TEST_CASE("key_command_run: exit status and standard error") {
  const auto r = run_to_end({"/bin/sh", "-c",
                             "echo partial; echo 'gpg: decryption failed' >&2; "
                             "echo more >&2; exit 3"});
  CHECK_FALSE(r.key);
  CHECK(r.problem == "key_command /bin/sh failed (exit status 3): gpg: decryption failed");
}

TEST_CASE("key_command_run: stdin is /dev/null, and only three descriptors are open") {
  // `read` at once meets end of file; /proc/self/fd lists 0, 1, 2 and ls's own.
  const auto r =
      run_to_end({"/bin/sh", "-c", "if read line; then exit 9; fi; ls /proc/self/fd | wc -l"});
  REQUIRE(r.key);
  CHECK(r.key->view() == "4");
}

TEST_CASE("key_command_run: 10 MB of output is read up to 64 KiB and the rest discarded") {
  const auto r = run_to_end({"/bin/sh", "-c", "echo big-key; head -c 10000000 /dev/zero"});
  REQUIRE(r.key);
  CHECK(r.key->view() == "big-key");
}

TEST_CASE(
    "key_command_run: a command that never ends is killed at its timeout, with what it "
    "started") {
  const auto r = run_to_end({"/bin/sh", "-c", "echo waiting >&2; sleep 1000; echo late"}, 300ms);
  CHECK_FALSE(r.key);
  CHECK(r.problem == "key_command /bin/sh timed out after 0.3 s and was killed: waiting");
}

TEST_CASE("key_command_run: a command that closes its output but never exits is killed too") {
  const auto r = run_to_end({"/bin/sh", "-c", "echo closed-key; exec >&- 2>&-; sleep 1000"}, 300ms);
  CHECK_FALSE(r.key);
  CHECK(r.problem.find("timed out after 0.3 s and was killed") != std::string::npos);
}

TEST_CASE("key_command_run: a command that exits while something it started holds the pipe") {
  // The background sleep keeps stdout open; the run ends with the exit, not at the timeout.
  const auto r = run_to_end({"/bin/sh", "-c", "echo early-key; sleep 1000 & exit 0"}, 5000ms);
  REQUIRE(r.key);
  CHECK(r.key->view() == "early-key");
}

TEST_CASE("key_command_run: cancel stops the command and wakes waiters without on_done") {
  net::io_context io;
  auto run = std::make_shared<key_command_run>(
      io.get_executor(), "acme", std::vector<std::string>{"/bin/sh", "-c", "sleep 1000"});
  int done = 0;
  run->start([&done](const key_command_run&) { ++done; });
  bool woke = false;
  spawn_detached(io.get_executor(), wait_then_set(run, woke), "a waiter");
  net::post(io, [run] { run->cancel(); });
  io.run();
  CHECK(woke);
  CHECK(done == 0);
  CHECK_FALSE(run->running());
  CHECK(run->result().problem == "key_command /bin/sh was stopped");
}
