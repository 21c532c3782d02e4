#include "client/platform/access_facts.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace actoken::client::platform {
namespace {

// A big entry (many members, a long gecos, NSS from a directory) gives ERANGE:
// grow the buffer and ask again, as far as 1 MiB.
constexpr std::size_t first_buffer = 4096;
constexpr std::size_t last_buffer = std::size_t{1} << 20;

// The caller's login name and primary group from the password database.
void read_user(access_facts& facts) {
  for (std::size_t size = first_buffer; size <= last_buffer; size *= 4) {
    std::vector<char> buffer(size);
    passwd entry{};
    passwd* found = nullptr;
    const int error = ::getpwuid_r(facts.uid, &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE) {
      continue;
    }
    if (error == 0 && found != nullptr) {
      facts.user_name = found->pw_name;
      facts.listed = found->pw_gid == facts.gid;
    }
    return;
  }
}

// The group's name, and whether it lists the caller among its members.
void read_group(access_facts& facts) {
  for (std::size_t size = first_buffer; size <= last_buffer; size *= 4) {
    std::vector<char> buffer(size);
    group entry{};
    group* found = nullptr;
    const int error = ::getgrgid_r(facts.gid, &entry, buffer.data(), buffer.size(), &found);
    if (error == ERANGE) {
      continue;
    }
    if (error != 0 || found == nullptr) {
      return;
    }
    facts.group_name = found->gr_name;
    for (char** member = found->gr_mem; member != nullptr && *member != nullptr; ++member) {
      if (facts.user_name && *facts.user_name == *member) {
        facts.listed = true;
      }
    }
    return;
  }
}

// Whether this process has `gid`, as its effective group or a supplementary one.
bool carries(gid_t gid) {
  if (::getegid() == gid) {
    return true;
  }
  const int count = ::getgroups(0, nullptr);
  if (count <= 0) {
    return false;
  }
  std::vector<gid_t> groups(static_cast<std::size_t>(count));
  const int got = ::getgroups(count, groups.data());
  return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

}  // namespace

access_facts inspect_access(const std::filesystem::path& socket) {
  access_facts facts;
  struct stat info {};
  if (::stat(socket.c_str(), &info) != 0) {
    // Not even the socket can be seen: its folder is what keeps the caller out.
    const auto folder = socket.has_parent_path() ? socket.parent_path() : ".";
    if (errno != EACCES || ::stat(folder.c_str(), &info) != 0) {
      return facts;
    }
    facts.folder = true;
  }
  facts.known = true;
  facts.mode = info.st_mode & 0777;
  facts.gid = info.st_gid;
  facts.uid = ::getuid();
  read_user(facts);
  read_group(facts);
  facts.carried = carries(facts.gid);
  return facts;
}

}  // namespace actoken::client::platform
