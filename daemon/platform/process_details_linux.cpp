#include "common/unique_fd.hpp"
#include "daemon/platform/process_details.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace actoken::platform {
namespace {

// One cgroup line names a path of at most a few hundred bytes; a process in
// cgroup v1 has a dozen lines. Past this the file is not one we understand.
constexpr std::size_t max_cgroup_file = 16 * 1024;

bool is_unit(std::string_view component) {
  return (component.size() > 8 && component.ends_with(".service")) ||
         (component.size() > 6 && component.ends_with(".scope"));
}

// `user@<uid>.service`: the unit of a user's own service manager.
bool is_user_manager(std::string_view component) {
  constexpr std::string_view prefix = "user@";
  constexpr std::string_view suffix = ".service";
  if (!component.starts_with(prefix) || !component.ends_with(suffix)) return false;
  const auto uid =
      component.substr(prefix.size(), component.size() - prefix.size() - suffix.size());
  return !uid.empty() && uid.find_first_not_of("0123456789") == std::string_view::npos;
}

// The first unit in `path` (slices skipped), as systemd's cg_path_get_unit
// reads it: the unit systemd made, not a sub-cgroup that a delegated unit
// named as it liked. Sets `rest` to what follows it.
std::optional<std::string_view> first_unit(std::string_view path, std::string_view& rest) {
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto component = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (is_unit(component)) {
      rest = path;
      return component;
    }
  }
  return std::nullopt;
}

// The unit in one hierarchy's path. A user's service manager delegates its
// cgroup to the user, who may name cgroups below it anything: its unit is
// written with it (`user@1003.service/backup.service`), so that no user can
// make a line that looks like a system unit's.
std::optional<std::string> unit_in_path(std::string_view path) {
  std::string_view rest;
  const auto unit = first_unit(path, rest);
  if (!unit) return std::nullopt;
  if (!is_user_manager(*unit)) return std::string(*unit);
  std::string_view ignored;
  const auto user_unit = first_unit(rest, ignored);
  return user_unit ? std::string(*unit) + "/" + std::string(*user_unit) : std::string(*unit);
}

std::optional<std::string> read_link(const std::string& path) {
  std::array<char, 4096> target{};
  const auto n = ::readlink(path.c_str(), target.data(), target.size());
  // A target that fills the buffer may have been cut short: say nothing.
  if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) return std::nullopt;
  return std::string(target.data(), static_cast<std::size_t>(n));
}

std::optional<std::string> read_small_file(const std::string& path) {
  const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) return std::nullopt;
  std::string text;
  std::array<char, 2048> chunk{};
  while (text.size() < max_cgroup_file) {
    const auto n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    text.append(chunk.data(), static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace

std::optional<std::string> systemd_unit_of_cgroup(std::string_view cgroup_file) {
  std::optional<std::string> v1_unit;
  while (!cgroup_file.empty()) {
    const auto newline = cgroup_file.find('\n');
    const auto line = cgroup_file.substr(0, newline);
    cgroup_file =
        newline == std::string_view::npos ? std::string_view() : cgroup_file.substr(newline + 1);
    // hierarchy-ID:controller-list:cgroup-path (cgroups(7)); the path may hold ':'.
    const auto first = line.find(':');
    if (first == std::string_view::npos) continue;
    const auto second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const auto id = line.substr(0, first);
    const auto controllers = line.substr(first + 1, second - first - 1);
    const auto path = line.substr(second + 1);
    if (id == "0" && controllers.empty()) {
      if (auto unit = unit_in_path(path)) return unit;
    } else if (controllers == "name=systemd") {
      v1_unit = unit_in_path(path);
    }
  }
  return v1_unit;
}

process_details process_details_of(pid_t pid) {
  process_details details;
  if (pid <= 0) return details;
  const auto proc = "/proc/" + std::to_string(pid);
  details.exe = read_link(proc + "/exe");
  if (const auto cgroup = read_small_file(proc + "/cgroup")) {
    details.unit = systemd_unit_of_cgroup(*cgroup);
  }
  return details;
}

}  // namespace actoken::platform
