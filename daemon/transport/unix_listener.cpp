#include "daemon/transport/unix_listener.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

namespace actoken::transport {
namespace {

std::string why(int error) { return std::generic_category().message(error); }

sockaddr_un address_of(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const auto& text = path.native();
  if (text.size() >= sizeof address.sun_path) {
    throw listen_error("socket path " + text + " is too long (at most " +
                       std::to_string(sizeof address.sun_path - 1) + " bytes)");
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return address;
}

// True when something accepts connections at `path` (a live daemon).
bool someone_listens(const std::filesystem::path& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const auto address = address_of(path);
  const bool live = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return live;
}

void prepare_parent(const listen_options& options) {
  const auto parent = options.path.parent_path();
  if (parent.empty()) return;
  if (options.create_private_parent) {
    if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) {
      throw listen_error("cannot create " + parent.string() + ": " + why(errno));
    }
    struct stat st {};
    if (::lstat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw listen_error(parent.string() + " is not a directory");
    }
    if (st.st_uid != ::geteuid()) {
      throw listen_error(parent.string() + " belongs to another user; refusing to listen there");
    }
    if ((st.st_mode & 077) != 0) {
      ::chmod(parent.c_str(), 0700);
    }
  } else {
    // System mode: a folder we create must let the socket's group reach the
    // socket (the socket's own mode does the gating); the umask is 077 here.
    std::error_code ec;
    if (!std::filesystem::exists(parent, ec) && std::filesystem::create_directories(parent, ec)) {
      ::chmod(parent.c_str(), 0755);
    }
  }
}

}  // namespace

unix_listener unix_listener::open(const listen_options& options, std::optional<int> activated_fd) {
  unix_listener listener;
  if (activated_fd) {
    listener.fd_ = *activated_fd;
    listener.activated_ = true;
    listener.path_ = options.path;
    return listener;
  }

  prepare_parent(options);
  listener.path_ = options.path;

  // The lock first: it decides who owns the path.
  const auto lock_path = options.path.string() + ".lock";
  listener.lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (listener.lock_fd_ < 0) {
    throw listen_error("cannot open lock file " + lock_path + ": " + why(errno));
  }
  if (::flock(listener.lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    throw listen_error("another actokend is already serving " + options.path.string() + " (lock " +
                       lock_path + " is held)");
  }

  // We hold the lock, so a socket still at the path is stale (its daemon died
  // without cleaning up), unless something unrelated listens there.
  struct stat st {};
  if (::lstat(options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw listen_error(options.path.string() + " exists and is not a socket; not replacing it");
    }
    if (someone_listens(options.path)) {
      throw listen_error("something is already listening on " + options.path.string());
    }
    ::unlink(options.path.c_str());
  }

  listener.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listener.fd_ < 0) {
    throw listen_error("cannot create a socket: " + why(errno));
  }
  const auto address = address_of(options.path);
  // Bind with every permission masked off, then open it up to exactly the
  // final mode once the group is right: never a moment more open.
  const auto old_mask = ::umask(0777);
  const int bound =
      ::bind(listener.fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_error = errno;
  ::umask(old_mask);
  if (bound != 0) {
    throw listen_error("cannot bind " + options.path.string() + ": " + why(bind_error));
  }
  listener.owns_path_ = true;
  if (options.group && ::chown(options.path.c_str(), static_cast<uid_t>(-1), *options.group) != 0) {
    throw listen_error("cannot give " + options.path.string() + " to group " +
                       std::to_string(*options.group) + ": " + why(errno));
  }
  if (::chmod(options.path.c_str(), options.mode) != 0) {
    throw listen_error("cannot set the mode of " + options.path.string() + ": " + why(errno));
  }
  if (::listen(listener.fd_, options.backlog) != 0) {
    throw listen_error("cannot listen on " + options.path.string() + ": " + why(errno));
  }
  return listener;
}

unix_listener::unix_listener(unix_listener&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      path_(std::move(other.path_)),
      activated_(other.activated_),
      owns_path_(std::exchange(other.owns_path_, false)) {}

unix_listener::~unix_listener() {
  if (owns_path_) {
    ::unlink(path_.c_str());
  }
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (lock_fd_ >= 0) {
    // Unlinking the lock file would race with a daemon starting now; leave it.
    ::close(lock_fd_);
  }
}

int unix_listener::release_fd() noexcept { return std::exchange(fd_, -1); }

}  // namespace actoken::transport
