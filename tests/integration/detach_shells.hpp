#pragma once

/// @file
/// Shells of another user for `actokend --detach` (SPEC §2) and the README's
/// tour: each runs `sh -c SCRIPT` as that user with a clean environment of the
/// test's choosing (`env -i`), its output in files, several at once without
/// threads. The test process is made a child subreaper, so that a daemon left
/// running by `--detach` becomes its child once the shell is gone, and is
/// stopped and reaped by `stop_daemons` however its test ended.

#include "tests/integration/harness.hpp"

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace actoken::testing {

/// A shell started by `start_shell`, not yet finished.
struct running_shell {
  pid_t pid = -1;
  std::filesystem::path out;
  std::filesystem::path err;
};

/// A folder for one test: `home` and `runtime` (XDG_RUNTIME_DIR, 0700) belong
/// to `uid`; the rest of the test's files go in `path()`.
class user_world {
 public:
  explicit user_world(uid_t uid = 65534, gid_t gid = 65534);
  ~user_world();
  user_world(const user_world&) = delete;
  user_world& operator=(const user_world&) = delete;

  const std::filesystem::path& path() const { return dir_.path(); }
  std::filesystem::path home() const { return dir_.path() / "home"; }
  std::filesystem::path runtime() const { return dir_.path() / "runtime"; }
  /// The user daemon's socket: `$XDG_RUNTIME_DIR/actoken/actokend.sock`.
  std::filesystem::path socket() const { return runtime() / "actoken" / "actokend.sock"; }
  /// Where `--detach` writes the daemon's log (XDG_STATE_HOME unset).
  std::filesystem::path log() const {
    return home() / ".local" / "state" / "actoken" / "actokend.log";
  }
  /// HOME, XDG_RUNTIME_DIR, PATH (the binaries under test first), SHELL=/bin/sh.
  std::map<std::string, std::string> env() const;
  /// Makes `path` (a folder, made when missing) belong to the world's user.
  void give(const std::filesystem::path& path) const;

  /// Starts `sh -c script` as the world's user with `env()` and `extra`.
  running_shell start_shell(const std::string& script,
                            const std::map<std::string, std::string>& extra = {}) const;

  /// The pids of running daemons started with this world's XDG_RUNTIME_DIR.
  std::vector<pid_t> daemons() const;
  /// Stops every daemon of `daemons()` (SIGTERM, then waits for it).
  void stop_daemons() const;

  uid_t uid;
  gid_t gid;

 private:
  temp_dir dir_;
};

/// Waits for a shell and collects what it did.
process_result finish(const running_shell& shell);

}  // namespace actoken::testing
