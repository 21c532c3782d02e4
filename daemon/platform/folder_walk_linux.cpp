#include "common/text.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <system_error>
#include <utility>
#include <vector>

namespace actoken::platform {
namespace {

// As the kernel's MAXSYMLINKS: a loop of links ends here.
constexpr int max_links = 40;

// Each step: a descriptor for walking on (O_PATH: no read permission needed,
// as for a path the kernel resolves), never following a link.
constexpr int step_flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string joined(const std::string& folder, const std::string& name) {
  return folder == "/" ? "/" + name : folder + "/" + name;
}

bool root_only(const struct stat& folder) noexcept {
  return folder.st_uid == 0 && (folder.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// Why the folder at `path`, as `fstat` saw it, may not be on the way (`last`:
// may not hold the file); "" when it may.
std::string folder_problem(const struct stat& info, const std::string& path, bool last,
                           uid_t daemon_uid) {
  if (!S_ISDIR(info.st_mode)) return path + " is not a folder";
  if (daemon_uid != any_owner && info.st_uid != 0 && info.st_uid != daemon_uid) {
    return path + " belongs to uid " + std::to_string(info.st_uid) +
           ", neither the daemon's user (uid " + std::to_string(daemon_uid) + ") nor root";
  }
  const mode_t mode = info.st_mode;
  if ((mode & (S_IWGRP | S_IWOTH)) == 0) return {};
  const bool sticky = (mode & S_ISVTX) != 0;
  // No one can rename or remove another's entry in a sticky folder: a folder
  // below root's /tmp is the daemon's or root's, and judged in turn.
  if (!last && sticky && info.st_uid == 0) return {};
  if (last && sticky && (mode & S_IWOTH) != 0) {
    return path + " is writable by others (mode " + octal_mode(mode) +
           ", a shared folder like /tmp): use a folder of its own below it";
  }
  if ((mode & S_IWOTH) != 0) return path + " is writable by others (mode " + octal_mode(mode) + ")";
  return path + " is writable by its group (mode " + octal_mode(mode) + ")";
}

// The names of `path`, first to last.
std::deque<std::string> names_of(const std::filesystem::path& path) {
  std::deque<std::string> names;
  for (const auto& part : path.relative_path()) {
    if (!part.empty()) names.push_back(part.string());
  }
  return names;
}

// One walk: the checked folders from `/` down to where it is now.
class walker {
 public:
  explicit walker(const walk_rules& rules) : rules_(rules) {}

  walk_result run(const std::filesystem::path& folder);

 private:
  // A folder on the way, open and judged.
  struct step {
    unique_fd fd;
    std::string path;
    struct stat info {};
  };

  std::string enter(unique_fd fd, std::string path);
  std::string descend(const std::string& name);
  std::string create(const std::string& name, const std::string& path, unique_fd& opened);
  std::string through_link(const std::string& name, const std::string& path);
  walk_result finish();

  const walk_rules& rules_;
  std::vector<step> stack_;
  std::deque<std::string> pending_;
  int links_ = 0;
  bool missing_ = false;
};

walk_result walker::run(const std::filesystem::path& folder) {
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(folder, ec).lexically_normal();
  if (ec) return {unique_fd(), "cannot make " + folder.string() + " absolute: " + ec.message()};
  pending_ = names_of(absolute);
  if (auto problem = enter(unique_fd(::open("/", step_flags)), "/"); !problem.empty()) {
    return {unique_fd(), std::move(problem)};
  }
  while (!pending_.empty()) {
    auto name = std::move(pending_.front());
    pending_.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      // Back to a folder already judged on the way down (`/..` is `/`).
      if (stack_.size() > 1) stack_.pop_back();
      continue;
    }
    if (auto problem = descend(name); !problem.empty()) {
      return {unique_fd(), std::move(problem), missing_};
    }
  }
  return finish();
}

// Judges the folder just opened as one on the way, and walks on from it.
std::string walker::enter(unique_fd fd, std::string path) {
  if (fd.get() < 0) return "cannot open " + path + ": " + errno_text(errno);
  step next{std::move(fd), std::move(path)};
  if (::fstat(next.fd.get(), &next.info) != 0) {
    return "cannot examine " + next.path + ": " + errno_text(errno);
  }
  if (auto problem = folder_problem(next.info, next.path, /*last=*/false, rules_.daemon_uid);
      !problem.empty()) {
    return problem;
  }
  stack_.push_back(std::move(next));
  return {};
}

// One folder down: `name` in the current folder, never through a link but
// one of root's in a folder only root can write.
std::string walker::descend(const std::string& name) {
  const int here = stack_.back().fd.get();
  const auto path = joined(stack_.back().path, name);
  unique_fd next(::openat(here, name.c_str(), step_flags));
  if (next.get() < 0 && errno == ENOENT && rules_.create_mode) {
    if (auto problem = create(name, path, next); !problem.empty()) return problem;
  }
  if (next.get() >= 0) return enter(std::move(next), path);
  const int error = errno;
  if (error == ENOENT) {
    missing_ = true;
    return path + " does not exist";
  }
  // O_NOFOLLOW|O_DIRECTORY says ENOTDIR for a link and for a file alike.
  if (error == ENOTDIR || error == ELOOP) return through_link(name, path);
  return "cannot open " + path + ": " + errno_text(error);
}

// Creates the missing folder `name` in the current one, with exactly the
// mode asked: set on the new folder's own descriptor, never by path. The
// current folder was judged: no one else can replace the new entry.
std::string walker::create(const std::string& name, const std::string& path, unique_fd& opened) {
  const int here = stack_.back().fd.get();
  const mode_t mode = *rules_.create_mode;
  if (::mkdirat(here, name.c_str(), mode) != 0) {
    if (errno != EEXIST) return "cannot create " + path + ": " + errno_text(errno);
    // Made meanwhile by someone else: judged like any folder found.
    opened = unique_fd(::openat(here, name.c_str(), step_flags));
    return {};
  }
  opened = unique_fd(::openat(here, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (opened.get() < 0) return "cannot open " + path + ": " + errno_text(errno);
  if (::fchmod(opened.get(), mode) != 0) {
    return "cannot set the mode of " + path + ": " + errno_text(errno);
  }
  return {};
}

// `name` is not a folder: a link is followed when root placed it where only
// root can write (its target then walked like the rest); anything else ends
// the walk.
std::string walker::through_link(const std::string& name, const std::string& path) {
  const auto& holder = stack_.back();
  struct stat link {};
  if (::fstatat(holder.fd.get(), name.c_str(), &link, AT_SYMLINK_NOFOLLOW) != 0) {
    return "cannot examine " + path + ": " + errno_text(errno);
  }
  if (!S_ISLNK(link.st_mode)) return path + " is not a folder";
  if (link.st_uid != 0) {
    return path + " is a symbolic link owned by uid " + std::to_string(link.st_uid) +
           ": only root's links in folders only root can write are followed";
  }
  if (!root_only(holder.info)) {
    return path + " is a symbolic link in " + holder.path +
           ", which others than root can write: it is not followed";
  }
  if (++links_ > max_links) return path + ": too many symbolic links";
  std::array<char, 4096> target{};
  const auto length = ::readlinkat(holder.fd.get(), name.c_str(), target.data(), target.size());
  if (length <= 0 || static_cast<std::size_t>(length) >= target.size()) {
    return "cannot read the symbolic link " + path;
  }
  const std::filesystem::path to(std::string(target.data(), static_cast<std::size_t>(length)));
  // The target's names come before what was left of the path.
  auto names = names_of(to);
  pending_.insert(pending_.begin(), names.begin(), names.end());
  if (to.is_absolute()) stack_.resize(1);
  return {};
}

// The last folder must not be writable by others in any way; it is handed
// back open for reading (fsync, listing), or as walked when it cannot be read.
walk_result walker::finish() {
  auto& last = stack_.back();
  if (auto problem = folder_problem(last.info, last.path, /*last=*/true, rules_.daemon_uid);
      !problem.empty()) {
    return {unique_fd(), std::move(problem)};
  }
  unique_fd readable(::openat(last.fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  return {readable.get() >= 0 ? std::move(readable) : std::move(last.fd), {}};
}

}  // namespace

walk_result walk_to_folder(const std::filesystem::path& folder, const walk_rules& rules) {
  return walker(rules).run(folder);
}

std::filesystem::path folder_of(const std::filesystem::path& file) {
  return file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
}

bool names_a_file(const std::filesystem::path& file) {
  const auto name = file.filename();
  return !name.empty() && name != "." && name != "..";
}

}  // namespace actoken::platform
