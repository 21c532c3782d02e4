#pragma once

/// @file
/// Peers as other users, for integration tests of access control (SPEC §4):
/// the tests run as root, and each peer is a forked child that drops to
/// another uid, gid and supplementary groups (setgroups) before it connects,
/// so the daemon sees that user in SO_PEERCRED and SO_PEERGROUPS.

#include "tests/integration/harness.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace actoken::testing {

/// A user a child process turns into: uid, primary gid and the process's
/// supplementary groups (SO_PEERCRED carries only uid and gid).
struct identity {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

/// Drops the calling (forked, single-threaded) process to `who`. Only system
/// calls: safe after fork in a multi-threaded parent.
inline bool become(const identity& who) {
  return ::setgroups(who.groups.size(), who.groups.data()) == 0 && ::setgid(who.gid) == 0 &&
         ::setuid(who.uid) == 0 && ::getuid() == who.uid;
}

inline constexpr int become_failed = 120;

/// Connects a new socket to `path` from a child that is `who`: the kernel
/// records the child's credentials at connect time. Returns the connected fd,
/// or -errno when the connect was refused.
inline int connect_as(const identity& who, const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (!become(who)) ::_exit(become_failed);
    const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    ::_exit(rc == 0 ? 0 : (errno & 0x7f));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == become_failed) {
    ::close(fd);
    throw std::runtime_error("could not become uid " + std::to_string(who.uid) +
                             " (the integration tests run as root)");
  }
  if (code != 0) {
    ::close(fd);
    return -code;
  }
  return fd;
}

/// One HTTP request from `who` on a new connection; throws when refused.
inline http_reply request_as(const identity& who, const std::filesystem::path& socket,
                             const std::string& method, const std::string& target,
                             const std::string& body = "") {
  const int fd = connect_as(who, socket);
  if (fd < 0) {
    throw std::runtime_error("connect as uid " + std::to_string(who.uid) + ": " +
                             std::strerror(-fd));
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!body.empty() || method == "PUT") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "Connection: close\r\n\r\n" + body;
  std::string_view rest = request;
  while (!rest.empty()) {
    const auto n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string raw;
  char buffer[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 60000) <= 0) break;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);

  http_reply reply;
  const auto head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || head_end == std::string::npos) {
    throw std::runtime_error("no HTTP answer: " + raw);
  }
  reply.status = static_cast<unsigned>(std::stoul(raw.substr(9, 3)));
  reply.body = raw.substr(head_end + 4);
  return reply;
}

/// A copy of the CLI that any user can execute: the build tree may sit in a
/// folder other users cannot enter (CI's clone, a home directory).
inline const std::string& shared_cli() {
  static const temp_dir bin;
  static const std::string path = [] {
    const auto copy = bin.path() / "actoken";
    std::filesystem::copy_file(actoken_path(), copy);
    std::filesystem::permissions(copy, std::filesystem::perms(0755));
    return copy.string();
  }();
  return path;
}

/// Runs the actoken CLI as `who` and returns its exit code (stderr in `err`).
inline int cli_as(const identity& who, const std::filesystem::path& socket,
                  std::vector<std::string> args, std::string* out = nullptr,
                  std::string* err = nullptr) {
  temp_dir io;
  const auto out_path = io.path() / "out";
  const auto err_path = io.path() / "err";
  args.insert(args.begin(), {shared_cli(), "--socket", socket.string()});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Opened by the parent, so the child needs no rights on the folder.
  const int in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    if (!become(who)) ::_exit(become_failed);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  REQUIRE_MESSAGE(code != become_failed, "could not become uid " << who.uid);
  auto slurp = [](const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  if (out != nullptr) *out = slurp(out_path);
  if (err != nullptr) *err = slurp(err_path);
  return code;
}

}  // namespace actoken::testing
