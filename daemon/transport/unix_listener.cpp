#include "daemon/transport/unix_listener.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <system_error>
#include <utility>

namespace actoken::transport {
namespace {

std::string why(int error) { return std::generic_category().message(error); }

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    throw listen_error("socket path " + path + " is too long (at most " +
                       std::to_string(sizeof address.sun_path - 1) + " bytes)");
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

// The name by which `name` in the folder open as `folder_fd` is reached for
// bind and connect, which take no descriptor: the kernel resolves the
// /proc/self/fd link to the very folder that was checked, so no rename of the
// path's folders (ours or an ancestor) can move the socket elsewhere.
std::string name_in(int folder_fd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(folder_fd) + "/" + name;
}

// True when something accepts connections at `path` (a live daemon).
bool someone_listens(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto address = address_of(path);
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return live;
}

// Opens the socket's folder, creating it (the last component only) with
// `create_mode` when it is missing, and checks it may hold the socket. An
// existing folder's mode is never changed: a folder that does not pass is
// refused, never "fixed", since fixing means a chmod of something another
// user may have put there. Returns an O_PATH descriptor of the folder.
int open_socket_folder(const std::filesystem::path& folder, mode_t create_mode) {
  // The umask decides the new folder's mode exactly (0755 needs more than the
  // daemon's 077). umask is process-wide: this runs before any thread starts.
  const auto old_mask = ::umask(~create_mode & 0777);
  const int made = ::mkdir(folder.c_str(), create_mode);
  const int mkdir_error = errno;
  ::umask(old_mask);
  if (made != 0 && mkdir_error != EEXIST) {
    throw listen_error("cannot create the socket's folder " + folder.string() + ": " +
                       why(mkdir_error));
  }
  // Whatever is there now, made by us or not: a planted symbolic link fails
  // here (O_NOFOLLOW with O_DIRECTORY), and the checks below look at the
  // folder this descriptor holds, which is the one bind uses.
  const int fd = ::open(folder.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    struct stat st {};
    const bool link = ::lstat(folder.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
    throw listen_error("cannot use " + folder.string() + " as the socket's folder: " +
                       (link ? std::string("it is a symbolic link") : why(error)));
  }
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = why(errno);
  } else if (!S_ISDIR(st.st_mode)) {
    problem = "it is not a directory";
  } else {
    problem = socket_folder_problem(st.st_mode, st.st_uid, ::geteuid());
  }
  if (!problem.empty()) {
    ::close(fd);
    throw listen_error("cannot use " + folder.string() + " as the socket's folder: " + problem);
  }
  return fd;
}

}  // namespace

std::string socket_folder_problem(mode_t mode, uid_t owner, uid_t daemon_uid) {
  if (owner != daemon_uid && owner != 0) {
    return "it belongs to uid " + std::to_string(owner) + ", not to the daemon's user (uid " +
           std::to_string(daemon_uid) + ") or root";
  }
  if ((mode & S_IWOTH) != 0 && (mode & S_ISVTX) != 0) {
    return "anyone can write it (mode " + octal(mode) +
           ", a shared folder like /tmp); use a folder of its own below it";
  }
  if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "others can write it (mode " + octal(mode) + ") and so replace the socket";
  }
  return {};
}

namespace {

// The path a listening Unix socket is bound to; "" for an abstract or unnamed one.
std::string bound_path(int fd) {
  sockaddr_un address{};
  socklen_t size = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0 ||
      address.sun_family != AF_UNIX || size <= offsetof(sockaddr_un, sun_path) ||
      address.sun_path[0] == '\0') {
    return {};
  }
  return {address.sun_path, ::strnlen(address.sun_path, size - offsetof(sockaddr_un, sun_path))};
}

}  // namespace

unix_listener unix_listener::open(const listen_options& options, std::optional<int> activated_fd) {
  unix_listener listener;
  if (activated_fd) {
    listener.fd_ = *activated_fd;
    listener.activated_ = true;
    listener.path_ = bound_path(*activated_fd);
    return listener;
  }
  listener.path_ = options.path.string();

  // Clients reach the socket by its path: it must fit in sun_path.
  (void)address_of(options.path.string());
  listener.name_ = options.path.filename().string();
  if (listener.name_.empty() || listener.name_ == "." || listener.name_ == "..") {
    throw listen_error("socket path " + options.path.string() + " names no file");
  }
  const auto folder =
      options.path.has_parent_path() ? options.path.parent_path() : std::filesystem::path(".");
  listener.folder_fd_ = open_socket_folder(folder, static_cast<mode_t>(options.folder_mode));
  const int dir = listener.folder_fd_;
  // bind and connect reach the folder through /proc/self/fd (name_in): say so
  // plainly when /proc is missing rather than fail later with ENOENT.
  if (::access(name_in(dir, ".").c_str(), F_OK) != 0) {
    throw listen_error("cannot reach the socket's folder " + folder.string() +
                       " through /proc/self/fd: is /proc mounted?");
  }

  // The lock first: it decides who owns the path.
  const auto lock_name = listener.name_ + ".lock";
  listener.lock_fd_ =
      ::openat(dir, lock_name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (listener.lock_fd_ < 0) {
    throw listen_error("cannot open lock file " + options.path.string() + ".lock: " + why(errno));
  }
  if (::flock(listener.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    throw socket_taken_error("another actokend is already serving " + options.path.string() +
                             " (lock " + options.path.string() + ".lock is held)");
  }

  // We hold the lock, so a socket still at the path is stale (its daemon died
  // without cleaning up), unless something unrelated listens there.
  const auto bind_path = name_in(dir, listener.name_);
  struct stat st {};
  if (::fstatat(dir, listener.name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw listen_error(options.path.string() + " exists and is not a socket; not replacing it");
    }
    if (someone_listens(bind_path)) {
      throw listen_error("something is already listening on " + options.path.string());
    }
    ::unlinkat(dir, listener.name_.c_str(), 0);
  }

  listener.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listener.fd_ < 0) {
    throw listen_error("cannot create a socket: " + why(errno));
  }
  // bind creates the socket with mode 0777 less the umask: with the umask at
  // exactly the bits the mode leaves out, it is born with its final mode and is
  // never chmod-ed by path. umask is process-wide: no thread exists yet.
  const auto address = address_of(bind_path);
  const auto old_mask = ::umask(~static_cast<mode_t>(options.mode) & 0777);
  const int bound =
      ::bind(listener.fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_error = errno;
  ::umask(old_mask);
  if (bound != 0) {
    throw listen_error("cannot bind " + options.path.string() + ": " + why(bind_error));
  }
  listener.owns_path_ = true;
  // A default ACL on the folder replaces the umask: refuse a socket more open than asked.
  if (::fstatat(dir, listener.name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != options.mode) {
    throw listen_error(options.path.string() + " was not created with mode " +
                       octal(static_cast<mode_t>(options.mode)) +
                       " (does its folder carry a default ACL?)");
  }
  // The group, by name inside the checked folder and without following a
  // link: only the daemon's user or root can write there, so the name is the
  // socket just bound. (setfsgid around bind would not do: without
  // CAP_SETGID it takes only the process's own gids, not a supplementary group
  // a user may chown to, and a setgid folder overrides it.) Before listen(),
  // so no one connects while the group is still the daemon's.
  if (options.group && ::fchownat(dir, listener.name_.c_str(), static_cast<uid_t>(-1),
                                  *options.group, AT_SYMLINK_NOFOLLOW) != 0) {
    throw listen_error("cannot give " + options.path.string() + " to group " +
                       std::to_string(*options.group) + ": " + why(errno));
  }
  if (::listen(listener.fd_, options.backlog) != 0) {
    throw listen_error("cannot listen on " + options.path.string() + ": " + why(errno));
  }
  return listener;
}

unix_listener::unix_listener(unix_listener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      folder_fd_(std::exchange(other.folder_fd_, -1)),
      name_(std::move(other.name_)),
      path_(std::move(other.path_)),
      activated_(other.activated_),
      owns_path_(std::exchange(other.owns_path_, false)) {}

unix_listener::~unix_listener() {
  if (owns_path_) {
    ::unlinkat(folder_fd_, name_.c_str(), 0);
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (lock_fd_ >= 0) {
    // Unlinking the lock file would race with a daemon starting now; leave it.
    ::close(lock_fd_);
  }
  if (folder_fd_ >= 0) {
    ::close(folder_fd_);
  }
}

int unix_listener::release_fd() noexcept { return std::exchange(fd_, -1); }

}  // namespace actoken::transport
