// `actokend --detach` (SPEC §2, issue 26 item 2): the ssh-agent way to start a
// per-user daemon. Run as another user (nobody) in shells with a clean
// environment, as a shell profile would: one daemon however many shells run
// `eval "$(actokend --detach)"` at once, the same line for all of them, and a
// daemon that cannot become ready gives exit 1 with its log's last line.
#include "tests/integration/detach_shells.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace {

// What a profile does, then what the shell then knows.
constexpr auto profile_line =
    R"sh(eval "$(actokend --detach)" && printf '%s\n' "$ACTOKEN_SOCKET")sh";

bool can_run_as_others() {
  if (::geteuid() != 0) {
    skip_case("needs root, to run the shells as another user");
    return false;
  }
  return true;
}

// Waits (10 s at most) until `path` holds `part`.
bool eventually_holds(const std::filesystem::path& path, const std::string& part) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (slurp(path).find(part) == std::string::npos) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The socket's folder and lock file as the user's daemon would make them,
// the lock then held by the test: a daemon that never answers.
struct held_lock {
  explicit held_lock(const user_world& w) {
    w.give(w.socket().parent_path());
    ::chmod(w.socket().parent_path().c_str(), 0700);
    const auto lock = w.socket().string() + ".lock";
    fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::fchown(fd, w.uid, w.gid) == 0);
    REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  }
  ~held_lock() { release(); }
  held_lock(const held_lock&) = delete;
  held_lock& operator=(const held_lock&) = delete;
  void release() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int fd = -1;
};

}  // namespace

TEST_CASE("--detach in four shells at once: one daemon, the same line in every shell") {
  if (!can_run_as_others()) return;
  user_world w;
  // Each shell says it is there, then waits at a gate the test opens once
  // all are waiting, so that the starts overlap as much as they can.
  const auto gate = w.path() / "gate";
  const int gate_fd = ::open(gate.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(gate_fd >= 0);
  REQUIRE(::flock(gate_fd, LOCK_EX) == 0);
  w.give(w.path() / "ready");
  std::vector<running_shell> shells;
  for (int i = 0; i < 4; ++i) {
    shells.push_back(
        w.start_shell("touch \"$READY/" + std::to_string(i) + "\" && flock -s \"$GATE\" true && " +
                          profile_line + " && actoken ping >/dev/null && echo pong",
                      {{"READY", (w.path() / "ready").string()}, {"GATE", gate.string()}}));
  }
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::distance(std::filesystem::directory_iterator(w.path() / "ready"), {}) < 4 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  ::close(gate_fd);

  const auto expected = w.socket().string() + "\npong\n";
  for (const auto& shell : shells) {
    const auto result = finish(shell);
    CHECK_MESSAGE(result.exit_code == 0, result.err);
    CHECK(result.out == expected);
  }
  CHECK(w.daemons().size() == 1);
  const auto log = slurp(w.log());
  CHECK_MESSAGE(count_of(log, " listening on " + w.socket().string()) == 1, log);
  // The log: the user's alone, mode 0600, in a folder made 0700.
  struct stat st {};
  REQUIRE(::stat(w.log().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(st.st_uid == w.uid);
  REQUIRE(::stat(w.log().parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
}

TEST_CASE("--detach when the daemon is up starts nothing and prints the same line") {
  if (!can_run_as_others()) return;
  user_world w;
  const auto first = finish(w.start_shell("actokend --detach"));
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  CHECK(first.out == "ACTOKEN_SOCKET=" + w.socket().string() + "; export ACTOKEN_SOCKET;\n");
  CHECK(first.err.empty());
  const auto daemons = w.daemons();
  REQUIRE(daemons.size() == 1);

  const auto again = finish(w.start_shell("actokend --detach"));
  CHECK(again.exit_code == 0);
  CHECK(again.out == first.out);
  CHECK(w.daemons() == daemons);
  CHECK(count_of(slurp(w.log()), " listening on ") == 1);
  // --shell, else $SHELL, chooses the syntax, as `actoken env` does.
  CHECK(finish(w.start_shell("actokend --detach --shell csh")).out ==
        "setenv ACTOKEN_SOCKET " + w.socket().string() + ";\n");
  CHECK(finish(w.start_shell("actokend --detach", {{"SHELL", "/usr/bin/fish"}})).out ==
        "set -gx ACTOKEN_SOCKET " + w.socket().string() + ";\n");
  CHECK(w.daemons() == daemons);
  // The daemon is in a session of its own, out of the shell's.
  CHECK(::getsid(daemons.front()) == daemons.front());
}

TEST_CASE(
    "--detach: a daemon that cannot become ready in 5 s gives exit 1 and its log's last line") {
  if (!can_run_as_others()) return;
  user_world w;
  // Something holds the socket's lock but never listens: the daemon started
  // stops at once, and --detach waits the 5 s for the holder to answer.
  const held_lock lock(w);
  const auto started = std::chrono::steady_clock::now();
  const auto result = finish(w.start_shell("actokend --detach"));
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(result.exit_code == 1);
  CHECK(result.out.empty());
  const auto last_line = "another actokend is already serving " + w.socket().string();
  CHECK_MESSAGE(result.err.find("did not answer within 5 s") != std::string::npos, result.err);
  CHECK_MESSAGE(result.err.find(w.log().string() + ": ") != std::string::npos, result.err);
  CHECK_MESSAGE(result.err.find(last_line) != std::string::npos, result.err);
  CHECK(waited >= 5s);
  CHECK(w.daemons().empty());
}

TEST_CASE("--detach: a daemon that stops before it is ready: exit 1 at once, with the reason") {
  if (!can_run_as_others()) return;
  user_world w;
  // A socket folder others may write: the daemon refuses it.
  const auto loose = w.path() / "loose";
  std::filesystem::create_directories(loose);
  ::chmod(loose.c_str(), 0777);
  const auto result =
      finish(w.start_shell("actokend --detach --socket '" + (loose / "s.sock").string() + "'"));
  CHECK(result.exit_code == 1);
  CHECK(result.out.empty());
  CHECK_MESSAGE(result.err.find("the daemon stopped before it was ready") != std::string::npos,
                result.err);
  CHECK_MESSAGE(result.err.find("is writable by others (mode 0777)") != std::string::npos,
                result.err);
  CHECK(w.daemons().empty());
}

TEST_CASE("--detach: a start that finds the socket taken waits for the daemon that took it") {
  if (!can_run_as_others()) return;
  user_world w;
  held_lock lock(w);
  const auto shell = w.start_shell(profile_line);
  // The started daemon found the lock held and said so to its parent, which
  // now waits; the holder turns out to be a daemon that becomes ready.
  REQUIRE(eventually_holds(w.log(), "this one stops"));
  lock.release();
  const auto other = w.start_shell("exec actokend --user </dev/null >/dev/null 2>&1 &");
  CHECK(finish(other).exit_code == 0);
  const auto result = finish(shell);
  CHECK_MESSAGE(result.exit_code == 0, result.err);
  CHECK(result.out == w.socket().string() + "\n");
  CHECK(w.daemons().size() == 1);
}
