#pragma once

/// @file
/// A private stage for tests that play the machine's shared places: a forked
/// child in a mount namespace of its own, whose /tmp and /run are fresh tmpfs
/// (so /tmp/actoken-<uid>, /run/user/<uid> and /run/actoken are the test's
/// alone, and the host's are never touched) and, when asked, whose /etc is a
/// copy-on-write overlay of the host's (so users and groups the test makes
/// with useradd and groupadd exist on the stage only and vanish with it).
///
/// What the stage saw comes back as JSON through a pipe. The play runs in the
/// child, where doctest's assertions would go unseen: it reports, and the test
/// checks what it reported.

#include "tests/integration/harness.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace actoken::testing {

/// What a stage makes private besides /tmp and /run.
enum class stage_etc {
  shared,        ///< the host's /etc, read as is
  copy_on_write  ///< an overlay: writes (useradd, groupadd) stay on the stage
};

/// The exit code of a stage that could not be set up (no CAP_SYS_ADMIN here).
inline constexpr int stage_unavailable = 77;

namespace detail {

/// Sets up the namespace and its mounts; false when the system refuses.
inline bool enter_private_stage(stage_etc etc) {
  // The binaries under test stay reachable even from a checkout in /tmp (harness.hpp).
  if (!testing::enter_private_stage({{"/tmp", "mode=1777"}, {"/run", "mode=0755"}})) return false;
  if (etc == stage_etc::shared) return true;
  // The overlay's writable layer lives in the stage's own /run.
  if (::mkdir("/run/stage-etc", 0700) != 0 || ::mkdir("/run/stage-etc/upper", 0755) != 0 ||
      ::mkdir("/run/stage-etc/work", 0700) != 0) {
    return false;
  }
  return ::mount("overlay", "/etc", "overlay", 0,
                 "lowerdir=/etc,upperdir=/run/stage-etc/upper,workdir=/run/stage-etc/work") == 0;
}

inline void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace detail

/// Runs `play` in a child on a private stage, `prepare` first (more mounts, say;
/// false: no stage), and returns all the child wrote to the descriptor `play`
/// is given; nullopt when no private stage can be made here, which the caller
/// reports as a skip. Whatever `play` starts (daemons, children) it must also
/// end before it returns.
inline std::optional<std::string> run_on_private_stage(stage_etc etc,
                                                       const std::function<bool()>& prepare,
                                                       const std::function<void(int)>& play) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const pid_t child = ::fork();
  if (child < 0) throw std::runtime_error("fork failed");
  if (child == 0) {
    ::close(pipe_fds[0]);
    if (!detail::enter_private_stage(etc) || !prepare()) ::_exit(stage_unavailable);
    play(pipe_fds[1]);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) {
    throw std::runtime_error("the private stage did not exit normally");
  }
  if (WEXITSTATUS(status) == stage_unavailable) return std::nullopt;
  if (WEXITSTATUS(status) != 0) throw std::runtime_error("the private stage failed");
  return text;
}

/// Runs `play` in a child on a private stage and returns what it returned (or
/// `{"exception": what}` when it threw); nullopt when no private stage can be
/// made here. As `run_on_private_stage`.
inline std::optional<nlohmann::json> on_a_private_stage(
    stage_etc etc, const std::function<nlohmann::json()>& play) {
  const auto text = run_on_private_stage(
      etc, [] { return true; },
      [&play](int report) {
        nlohmann::json said;
        try {
          said = play();
        } catch (const std::exception& e) {
          said = {{"exception", e.what()}};
        } catch (...) {
          said = {{"exception", "something that is not a std::exception"}};
        }
        detail::write_all(report, said.dump());
      });
  if (!text) return std::nullopt;
  return nlohmann::json::parse(*text);
}

/// What a play tells the test, one fact a line: `key=value`, a value's newlines written `\n`.
class stage {
 public:
  explicit stage(int report_fd) : report_fd_(report_fd) {}

  void say(const std::string& key, const std::string& value) const {
    std::string line = key + "=";
    for (const char c : value) line += c == '\n' ? std::string("\\n") : std::string(1, c);
    detail::write_all(report_fd_, line + '\n');
  }
  void say(const std::string& key, long long value) const { say(key, std::to_string(value)); }
  /// A CLI run as `name.code`, `name.out` and `name.err`.
  void say_run(const std::string& name, int code, const std::string& out,
               const std::string& err) const {
    say(name + ".code", code);
    say(name + ".out", out);
    say(name + ".err", err);
  }

 private:
  int report_fd_;
};

/// What a play said, by key.
using stage_report = std::map<std::string, std::string>;

/// What the play said for `key`, or "<not said>".
inline std::string said_for(const stage_report& said, const std::string& key) {
  const auto it = said.find(key);
  return it == said.end() ? std::string("<not said>") : it->second;
}

/// Runs `play` on a private stage, `prepare` first (as `run_on_private_stage`), and returns
/// what it said (`exception` when it threw); nullopt when no private stage can be made here.
inline std::optional<stage_report> reported_on_a_private_stage(
    stage_etc etc, const std::function<bool()>& prepare,
    const std::function<void(const stage&)>& play) {
  const auto text = run_on_private_stage(etc, prepare, [&play](int report_fd) {
    try {
      play(stage(report_fd));
    } catch (const std::exception& e) {
      stage(report_fd).say("exception", e.what());
    }
  });
  if (!text) return std::nullopt;
  stage_report said;
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto eq = line.find('=');
    std::string value = eq == std::string::npos ? "" : line.substr(eq + 1);
    for (std::size_t at = 0; (at = value.find("\\n", at)) != std::string::npos; ++at) {
      value.replace(at, 2, "\n");
    }
    said[line.substr(0, eq)] = value;
  }
  return said;
}

}  // namespace actoken::testing
