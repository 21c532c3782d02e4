#include "daemon/platform/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace actoken::platform {
namespace {

// Both ends close-on-exec; the child's end becomes its fd 1 or 2 through
// dup2 in the spawn, which clears the flag there only.
bool make_pipe(unique_fd& read_end, unique_fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end = unique_fd(fds[0]);
  write_end = unique_fd(fds[1]);
  // The daemon reads without blocking (asio); the child writes blocking.
  return ::fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0;
}

// Owns posix_spawn's two attribute objects.
struct spawn_setup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attributes{};
  bool ok = false;

  spawn_setup() {
    ok = ::posix_spawn_file_actions_init(&actions) == 0;
    if (ok && ::posix_spawnattr_init(&attributes) != 0) {
      ::posix_spawn_file_actions_destroy(&actions);
      ok = false;
    }
  }
  ~spawn_setup() {
    if (!ok) return;
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attributes);
  }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;
};

int configure(spawn_setup& setup, int out, int err) {
  auto& fa = setup.actions;
  auto& attr = setup.attributes;
  int rc = 0;
  if (rc == 0) rc = ::posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&fa, out, 1);
  if (rc == 0) rc = ::posix_spawn_file_actions_adddup2(&fa, err, 2);
  // Whatever the daemon holds without O_CLOEXEC (accepted sockets) stays
  // out of the child: every descriptor from 3 on is closed (glibc ≥ 2.34).
  if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  // A process group of its own, default signal dispositions (the daemon
  // ignores SIGPIPE) and no blocked signals.
  sigset_t defaults;
  sigset_t none;
  ::sigemptyset(&defaults);
  ::sigaddset(&defaults, SIGPIPE);
  ::sigemptyset(&none);
  if (rc == 0) rc = ::posix_spawnattr_setpgroup(&attr, 0);
  if (rc == 0) rc = ::posix_spawnattr_setsigdefault(&attr, &defaults);
  if (rc == 0) rc = ::posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) {
    rc = ::posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  }
  return rc;
}

}  // namespace

std::optional<child_process> start_child(const std::vector<std::string>& argv,
                                         std::string& problem) {
  if (argv.empty()) {
    problem = "the command is empty";
    return std::nullopt;
  }
  child_process child;
  unique_fd out_write;
  unique_fd err_write;
  if (!make_pipe(child.stdout_read, out_write) || !make_pipe(child.stderr_read, err_write)) {
    problem = std::string("cannot make a pipe: ") + std::strerror(errno);
    return std::nullopt;
  }
  spawn_setup setup;
  int rc = setup.ok ? configure(setup, out_write.get(), err_write.get()) : ENOMEM;
  if (rc != 0) {
    problem = std::string("cannot set up the command: ") + std::strerror(rc);
    return std::nullopt;
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // posix_spawnp looks a bare name up on PATH; a name with a slash is used as it is.
  rc = ::posix_spawnp(&child.pid, args[0], &setup.actions, &setup.attributes, args.data(), environ);
  if (rc != 0) {
    const bool bare = argv[0].find('/') == std::string::npos;
    problem = argv[0] + (rc == ENOENT && bare ? ": not found on PATH"
                                              : std::string(": ") + std::strerror(rc));
    return std::nullopt;
  }
  // The write ends close here: the child holds the only copies, so its exit is EOF.
  const long pidfd = ::syscall(SYS_pidfd_open, child.pid, 0);
  if (pidfd >= 0) {
    child.pidfd = unique_fd(static_cast<int>(pidfd));
    (void)::fcntl(child.pidfd.get(), F_SETFD, FD_CLOEXEC);
  }
  return child;
}

void kill_child_group(const child_process& child) noexcept {
  if (child.pid <= 0) return;
  // The group is the child's pid (setpgroup 0); the child itself too, in
  // case it left the group.
  (void)::kill(-child.pid, SIGKILL);
  (void)::kill(child.pid, SIGKILL);
}

bool has_ended(const child_process& child) noexcept {
  siginfo_t info{};
  int rc = 0;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  // Not ours any more (ECHILD) counts as ended: there is nothing to wait for.
  return rc < 0 || info.si_pid == child.pid;
}

std::optional<child_exit> try_reap(const child_process& child) noexcept {
  int status = 0;
  pid_t got = 0;
  do {
    got = ::waitpid(child.pid, &status, WNOHANG);
  } while (got < 0 && errno == EINTR);
  if (got == 0) return std::nullopt;
  if (got < 0) return child_exit{false, 0, 0};  // not ours any more: nothing to wait for
  if (WIFEXITED(status)) return child_exit{true, WEXITSTATUS(status), 0};
  return child_exit{false, 0, WIFSIGNALED(status) ? WTERMSIG(status) : 0};
}

void reap_now(child_process& child) noexcept {
  if (child.pid <= 0) return;
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  child.pid = -1;
}

std::string describe(const child_exit& ended) {
  if (ended.exited) return "exit status " + std::to_string(ended.code);
  if (ended.signal == 0) return "ended";
  const char* abbrev = ::sigabbrev_np(ended.signal);
  return std::string("killed by signal ") +
         (abbrev != nullptr ? std::string("SIG") + abbrev : std::to_string(ended.signal));
}

}  // namespace actoken::platform
