#include "daemon/transport/unix_listener.hpp"

#include "common/text.hpp"
#include "daemon/platform/folder_walk.hpp"

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

// Reaches the socket's folder by the walk (SPEC §6), creating what is missing
// with `create_mode`. An existing folder's mode is never changed: a folder
// that does not pass is refused, never "fixed", since fixing means a chmod of
// something another user may have put there. The socket, its lock and the
// stale socket's removal are all relative to the descriptor returned.
int open_socket_folder(const std::filesystem::path& folder, mode_t create_mode) {
  auto walked =
      platform::walk_to_folder(folder, {.daemon_uid = ::geteuid(), .create_mode = create_mode});
  if (!walked.ok()) {
    throw listen_error("cannot use " + folder.string() +
                       " as the socket's folder: " + walked.problem);
  }
  return walked.folder.release();
}

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
  (void)address_of(listener.path_);
  if (!platform::names_a_file(options.path)) {
    throw listen_error("socket path " + listener.path_ + " names no file");
  }
  listener.name_ = options.path.filename().string();
  const auto folder = platform::folder_of(options.path);
  listener.folder_fd_ = open_socket_folder(folder, static_cast<mode_t>(options.folder_mode));
  // bind and connect reach the folder through /proc/self/fd (name_in): say so
  // plainly when /proc is missing rather than fail later with ENOENT.
  if (::access(name_in(listener.folder_fd_, ".").c_str(), F_OK) != 0) {
    throw listen_error("cannot reach the socket's folder " + folder.string() +
                       " through /proc/self/fd: is /proc mounted?");
  }
  listener.take_lock();
  listener.clear_stale_socket();
  listener.bind_socket(options);
  if (::listen(listener.fd_, options.backlog) != 0) {
    throw listen_error("cannot listen on " + listener.path_ + ": " + why(errno));
  }
  return listener;
}

void unix_listener::take_lock() {
  // The lock first: it decides who owns the path.
  const auto lock_name = name_ + ".lock";
  lock_fd_ =
      ::openat(folder_fd_, lock_name.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd_ < 0) {
    throw listen_error("cannot open lock file " + path_ + ".lock: " + why(errno));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    throw socket_taken_error("another actokend is already serving " + path_ + " (lock " + path_ +
                             ".lock is held)");
  }
}

void unix_listener::clear_stale_socket() {
  // We hold the lock, so a socket still at the path is stale (its daemon died
  // without cleaning up), unless something unrelated listens there.
  struct stat st {};
  if (::fstatat(folder_fd_, name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (!S_ISSOCK(st.st_mode)) {
    throw listen_error(path_ + " exists and is not a socket; not replacing it");
  }
  if (someone_listens(name_in(folder_fd_, name_))) {
    throw listen_error("something is already listening on " + path_);
  }
  ::unlinkat(folder_fd_, name_.c_str(), 0);
}

void unix_listener::bind_socket(const listen_options& options) {
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) throw listen_error("cannot create a socket: " + why(errno));
  // bind creates the socket with mode 0777 less the umask: with the umask at
  // exactly the bits the mode leaves out, it is born with its final mode and is
  // never chmod-ed by path. umask is process-wide: no thread exists yet.
  const auto address = address_of(name_in(folder_fd_, name_));
  const auto old_mask = ::umask(~static_cast<mode_t>(options.mode) & 0777);
  const int bound = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_error = errno;
  ::umask(old_mask);
  if (bound != 0) throw listen_error("cannot bind " + path_ + ": " + why(bind_error));
  owns_path_ = true;
  // A default ACL on the folder replaces the umask: refuse a socket more open than asked.
  struct stat st {};
  if (::fstatat(folder_fd_, name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
      !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != options.mode) {
    throw listen_error(path_ + " was not created with mode " +
                       octal_mode(static_cast<mode_t>(options.mode)) +
                       " (does its folder carry a default ACL?)");
  }
  // The group, by name inside the checked folder and without following a
  // link: only the daemon's user or root can write there, so the name is the
  // socket just bound. (setfsgid around bind would not do: without
  // CAP_SETGID it takes only the process's own gids, not a supplementary group
  // a user may chown to, and a setgid folder overrides it.) Before listen(),
  // so no one connects while the group is still the daemon's.
  if (options.group && ::fchownat(folder_fd_, name_.c_str(), static_cast<uid_t>(-1), *options.group,
                                  AT_SYMLINK_NOFOLLOW) != 0) {
    throw listen_error("cannot give " + path_ + " to group " + std::to_string(*options.group) +
                       ": " + why(errno));
  }
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
