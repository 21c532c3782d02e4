#include "tests/integration/detach_shells.hpp"

#include "tests/test_files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace actoken::testing {
namespace {

// The state letter of /proc/PID/stat ('Z' for a zombie), or 0 when it is gone.
char state_of(pid_t pid) {
  const auto stat = slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? 0 : stat[close + 2];
}

bool is_our_daemon(const std::filesystem::path& proc, const std::string& marker,
                   const std::filesystem::path& binary) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink(proc / "exe", ec);
  if (ec || exe != binary) return false;
  const auto environ = slurp(proc / "environ");
  return environ.find(marker + '\0') != std::string::npos ||
         environ.ends_with(marker);  // the last entry ends without a NUL on some kernels
}

}  // namespace

user_world::user_world(uid_t user, gid_t group) : uid(user), gid(group) {
  // Daemons whose shell has gone become this process's children, to be reaped here.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  for (const auto& folder : {home(), runtime()}) {
    std::filesystem::create_directories(folder);
    ::chmod(folder.c_str(), 0700);
    give(folder);
  }
}

user_world::~user_world() { stop_daemons(); }

std::map<std::string, std::string> user_world::env() const {
  const auto daemon_bin = std::filesystem::path(actokend_path()).parent_path();
  const auto cli_bin = std::filesystem::path(actoken_path()).parent_path();
  return {{"HOME", home().string()},
          {"XDG_RUNTIME_DIR", runtime().string()},
          {"PATH", daemon_bin.string() + ":" + cli_bin.string() + ":/usr/bin:/bin"},
          {"SHELL", "/bin/sh"}};
}

void user_world::give(const std::filesystem::path& path) const {
  std::filesystem::create_directories(path);
  if (::chown(path.c_str(), uid, gid) != 0) throw std::runtime_error("chown " + path.string());
}

running_shell user_world::start_shell(const std::string& script,
                                      const std::map<std::string, std::string>& extra) const {
  static int serial = 0;
  const auto name = "shell-" + std::to_string(++serial);
  running_shell shell{-1, path() / (name + ".out"), path() / (name + ".err")};
  std::vector<std::string> argv{"/usr/bin/setpriv",
                                "--reuid=" + std::to_string(uid),
                                "--regid=" + std::to_string(gid),
                                "--clear-groups",
                                "/usr/bin/env",
                                "-i"};
  auto vars = env();
  for (const auto& [key, value] : extra) vars[key] = value;
  for (const auto& [key, value] : vars) argv.push_back(key + "=" + value);
  argv.insert(argv.end(), {"/bin/sh", "-c", script});
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  shell.pid = ::fork();
  if (shell.pid == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(shell.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(shell.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(args[0], args.data());
    ::_exit(126);
  }
  return shell;
}

process_result finish(const running_shell& shell) {
  int status = 0;
  ::waitpid(shell.pid, &status, 0);
  process_result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(shell.out);
  result.err = slurp(shell.err);
  return result;
}

std::vector<pid_t> user_world::daemons() const {
  const auto marker = "XDG_RUNTIME_DIR=" + runtime().string();
  const auto binary = std::filesystem::canonical(actokend_path());
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    if (is_our_daemon(entry.path(), marker, binary) && state_of(pid) != 'Z') found.push_back(pid);
  }
  return found;
}

void user_world::stop_daemons() const {
  for (const pid_t pid : daemons()) {
    ::kill(pid, SIGTERM);
    // Our child when its shell has gone (subreaper); otherwise watched until gone.
    if (::waitpid(pid, nullptr, 0) == pid) continue;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (state_of(pid) != 0 && state_of(pid) != 'Z' && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }
}

}  // namespace actoken::testing
