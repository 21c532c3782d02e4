#include "common/unique_fd.hpp"
#include "daemon/platform/sink_files.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

namespace actoken::platform {
namespace {

std::string octal_mode(unsigned mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777U);
  return text;
}

std::string folder_of(const std::filesystem::path& path) {
  return path.has_parent_path() ? path.parent_path().string() : std::string(".");
}

// The folder of a sink, opened and checked: everything after goes through
// this descriptor, so a folder renamed away after the check is not the one
// written.
struct checked_folder {
  unique_fd fd;
  std::string problem;
};

checked_folder open_sink_folder(const std::filesystem::path& folder, uid_t daemon_uid) {
  checked_folder out;
  out.fd = unique_fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (out.fd.get() < 0) {
    const int error = errno;
    out.problem = error == ENOENT ? "folder " + folder.string() + " does not exist"
                  : error == ENOTDIR
                      ? folder.string() + " is not a folder"
                      : "cannot open folder " + folder.string() + ": " + std::strerror(error);
    return out;
  }
  struct stat info {};
  if (::fstat(out.fd.get(), &info) != 0) {
    out.problem = "cannot inspect folder " + folder.string() + ": " + std::strerror(errno);
  } else if (info.st_uid != daemon_uid && info.st_uid != 0) {
    out.problem = "folder " + folder.string() + " belongs to uid " + std::to_string(info.st_uid) +
                  ", not to the daemon's user or root";
  } else if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    out.problem = "folder " + folder.string() + " (mode " + octal_mode(info.st_mode) +
                  ") is writable by group or others, who could put a token of theirs in its place";
  }
  if (!out.problem.empty()) out.fd.reset();
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

// `.<name>.tmp<digits>`: the name `write_file_atomically` gives its temporary
// files, so that `remove_stale_temporary_files` removes what a crash left.
std::string temporary_name(const std::string& name) {
  std::random_device random;
  return "." + name + ".tmp" + std::to_string(random()) + std::to_string(random());
}

}  // namespace

std::optional<std::filesystem::path> home_folder(uid_t uid) {
  if (const char* home = ::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::filesystem::path(home);
  }
  std::vector<char> buffer(4096);
  for (;;) {
    passwd entry{};
    passwd* found = nullptr;
    const int error = ::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE && buffer.size() < (1U << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (error != 0 || found == nullptr || found->pw_dir == nullptr || found->pw_dir[0] != '/') {
      return std::nullopt;
    }
    return std::filesystem::path(found->pw_dir);
  }
}

std::string sink_folder_problem(const std::filesystem::path& folder, uid_t daemon_uid) {
  return open_sink_folder(folder, daemon_uid).problem;
}

sink_read read_sink_file(const std::filesystem::path& path, std::size_t max_size) {
  sink_read out;
  const unique_fd fd(
      ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    // ELOOP: a symbolic link, which is replaced, never read through.
    if (errno == ENOENT || errno == ELOOP) {
      out.missing = true;
    } else {
      out.problem = "cannot read " + path.string() + ": " + std::strerror(errno);
    }
    return out;
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    out.problem = path.string() + " is not a regular file";
    return out;
  }
  if (static_cast<std::size_t>(info.st_size) > max_size) {
    out.problem = path.string() + " is larger than " + std::to_string(max_size / 1024) + " KiB";
    return out;
  }
  std::array<char, 8192> chunk{};
  for (;;) {
    const auto got = ::read(fd.get(), chunk.data(), chunk.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      out.problem = "cannot read " + path.string() + ": " + std::strerror(errno);
      return out;
    }
    if (got == 0) return out;
    out.text.append(chunk.data(), static_cast<std::size_t>(got));
    if (out.text.size() > max_size) {
      out.problem = path.string() + " is larger than " + std::to_string(max_size / 1024) + " KiB";
      return out;
    }
  }
}

std::optional<std::string> write_sink_file(const std::filesystem::path& path, std::string_view data,
                                           unsigned mode, std::optional<gid_t> gid,
                                           uid_t daemon_uid) {
  const auto folder = open_sink_folder(folder_of(path), daemon_uid);
  if (!folder.problem.empty()) return folder.problem;
  const auto name = path.filename().string();
  const auto temp = temporary_name(name);
  const unique_fd fd(::openat(folder.fd.get(), temp.c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return "cannot create a temporary file in " + folder_of(path) + ": " + std::strerror(errno);
  }
  const auto abandon = [&](const std::string& what) -> std::optional<std::string> {
    const int error = errno;
    ::unlinkat(folder.fd.get(), temp.c_str(), 0);
    return what + ": " + std::strerror(error);
  };
  // The group first: a chown may clear bits that the chmod then sets again.
  if (gid && ::fchown(fd.get(), static_cast<uid_t>(-1), *gid) != 0) {
    return abandon("cannot give " + path.string() + " group " + std::to_string(*gid));
  }
  // Whatever the umask made of it.
  if (::fchmod(fd.get(), mode) != 0) {
    return abandon("cannot set the mode of " + path.string());
  }
  if (!write_all(fd.get(), data) || ::fsync(fd.get()) != 0) {
    return abandon("cannot write " + path.string());
  }
  // rename(2) replaces the entry: a symbolic link at `path` is replaced, never followed.
  if (::renameat(folder.fd.get(), temp.c_str(), folder.fd.get(), name.c_str()) != 0) {
    return abandon("cannot replace " + path.string());
  }
  // Best effort: the data is safe; this makes the rename itself durable.
  (void)::fsync(folder.fd.get());
  return std::nullopt;
}

std::optional<std::string> remove_sink_file(const std::filesystem::path& path, uid_t daemon_uid) {
  const auto folder = open_sink_folder(folder_of(path), daemon_uid);
  if (!folder.problem.empty()) return folder.problem;
  // unlink(2) removes a link itself, never its target.
  if (::unlinkat(folder.fd.get(), path.filename().c_str(), 0) != 0 && errno != ENOENT) {
    return "cannot remove " + path.string() + ": " + std::strerror(errno);
  }
  return std::nullopt;
}

}  // namespace actoken::platform
