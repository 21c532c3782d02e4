#include "daemon/platform/background.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace actoken::platform {
namespace {

constexpr std::size_t answer_limit = 64 * 1024;

std::string why(int error) { return std::generic_category().message(error); }

// Milliseconds left until `deadline`, for poll(); 0 when it has passed.
int millis_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, 60'000));
}

// Waits until `fd` is ready for `events` or `deadline` passes; false then.
bool wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, millis_until(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// In the child: what makes it a background process. Only system calls, and
// it reports on the log what fails. `log_fd` itself stays open: its owner
// closes it.
void become_background(int log_fd) {
  const auto fail = [log_fd](const char* step) {
    const std::string line = std::string("actokend: cannot ") + step + ": " + why(errno) + "\n";
    if (::write(log_fd, line.data(), line.size()) < 0) {
      // Nowhere else to say it: the exit status says it failed.
    }
    ::_exit(1);
  };
  if (::setsid() < 0) fail("start a session of its own");
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) fail("open /dev/null");
  if (::dup2(null_fd, STDIN_FILENO) < 0 || ::dup2(null_fd, STDOUT_FILENO) < 0 ||
      ::dup2(log_fd, STDERR_FILENO) < 0) {
    fail("redirect its standard input and output");
  }
  if (null_fd > STDERR_FILENO) ::close(null_fd);
  if (::chdir("/") != 0) fail("change to the folder /");
  for (const char* name : {"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
                           "WATCHDOG_PID", "WATCHDOG_USEC", "JOURNAL_STREAM"}) {
    ::unsetenv(name);
  }
}

bool send_all(int fd, std::string_view data, std::chrono::steady_clock::time_point deadline) {
  while (!data.empty()) {
    if (!wait_ready(fd, POLLOUT, deadline)) return false;
    const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until EOF (true), the deadline or an error (false).
bool read_to_end(int fd, std::string& into, std::chrono::steady_clock::time_point deadline) {
  std::array<char, 4096> chunk{};
  for (;;) {
    if (!wait_ready(fd, POLLIN, deadline)) return false;
    const auto n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    into.append(chunk.data(), std::min(static_cast<std::size_t>(n), answer_limit - into.size()));
    if (into.size() >= answer_limit) return true;
  }
}

}  // namespace

background_start start_in_background(int log_fd) {
  std::array<int, 2> ends{};
  if (::pipe2(ends.data(), O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "cannot make a pipe");
  }
  unique_fd read_end(ends[0]);
  unique_fd write_end(ends[1]);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "cannot fork");
  background_start started;
  if (pid == 0) {
    read_end.reset();
    become_background(log_fd);
    started.in_child = true;
    started.report = std::move(write_end);
    return started;
  }
  started.child = pid;
  started.report = std::move(read_end);
  return started;
}

void send_report(int fd, char byte) noexcept {
  while (::write(fd, &byte, 1) < 0 && errno == EINTR) {
  }
}

report_wait wait_for_report(int fd, std::chrono::steady_clock::time_point deadline) noexcept {
  report_wait result;
  for (;;) {
    if (!wait_ready(fd, POLLIN, deadline)) {
      result.timed_out = true;
      return result;
    }
    char byte = 0;
    const auto n = ::read(fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1) result.byte = byte;
    return result;
  }
}

void reap_child(pid_t pid) noexcept {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

void kill_child(pid_t pid) noexcept {
  ::kill(pid, SIGKILL);
  reap_child(pid);
}

socket_answer ask_unix_socket(const std::filesystem::path& path, const std::string& request,
                              std::chrono::steady_clock::time_point deadline) {
  socket_answer answer;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof address.sun_path) {
    answer.problem = "the socket path is too long";
    return answer;
  }
  std::memcpy(address.sun_path, path.c_str(), path.native().size());
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    answer.problem = "cannot make a socket: " + why(errno);
    return answer;
  }
  // A Unix socket connects at once or fails (EAGAIN: its backlog is full).
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    answer.problem = "nothing answers on " + path.string() + ": " + why(errno);
    return answer;
  }
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    answer.problem = "cannot tell who listens on " + path.string() + ": " + why(errno);
    return answer;
  }
  answer.peer_uid = peer.uid;
  if (!send_all(fd.get(), request, deadline) || !read_to_end(fd.get(), answer.reply, deadline)) {
    answer.problem = "no answer on " + path.string() + " in time";
  }
  return answer;
}

folder_stat stat_folder(const std::filesystem::path& folder) noexcept {
  folder_stat result;
  struct stat st {};
  if (::lstat(folder.c_str(), &st) != 0) {
    result.problem = why(errno);
    return result;
  }
  result.is_link = S_ISLNK(st.st_mode);
  if (!result.is_link && !S_ISDIR(st.st_mode)) result.problem = "not a folder";
  result.owner = st.st_uid;
  result.mode = st.st_mode & 07777;
  return result;
}

std::string last_line_of(const std::filesystem::path& path) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return {};
  constexpr off_t tail = 4096;
  const off_t from = st.st_size > tail ? st.st_size - tail : 0;
  std::string text(static_cast<std::size_t>(st.st_size - from), '\0');
  const auto n = ::pread(fd.get(), text.data(), text.size(), from);
  text.resize(static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const auto start = text.rfind('\n');
  return start == std::string::npos ? text : text.substr(start + 1);
}

}  // namespace actoken::platform
