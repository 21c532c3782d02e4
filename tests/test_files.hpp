// Small file helpers the unit and integration tests share.
#pragma once

#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>

namespace actoken::testing {

/// The whole content of `path` ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

/// The permission bits of `path` itself (a link is not followed).
inline unsigned mode_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info.st_mode & 07777U;
}

/// A fresh folder under /tmp (mode 0700, this process's user), removed with
/// its contents: the one scratch folder of the unit and integration tests.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& name = "actoken-test") {
    std::string pattern = "/tmp/" + name + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

  /// Writes `text` to `name` in the folder (folders on the way made, a file
  /// already there replaced), with exactly `mode`; its path.
  std::filesystem::path write(const std::string& name, const std::string& text,
                              unsigned mode = 0600) const {
    const auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::filesystem::remove(file);
    std::ofstream(file, std::ios::binary) << text;
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
  }

  /// The folder `name` (folders made on the way are 0755), owned by `owner`
  /// with exactly `mode`; its path.
  std::filesystem::path folder(const std::string& name, unsigned mode, uid_t owner = 0) const {
    auto dir = path_;
    for (const auto& part : std::filesystem::path(name)) {
      dir /= part;
      if (!std::filesystem::exists(dir)) {
        REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
        REQUIRE(::chmod(dir.c_str(), 0755) == 0);
      }
    }
    REQUIRE(::chown(dir.c_str(), owner, owner) == 0);
    REQUIRE(::chmod(dir.c_str(), mode) == 0);
    return dir;
  }

  /// A symbolic link at `name` to `target`, owned by `owner`; its path.
  std::filesystem::path link(const std::string& name, const std::filesystem::path& target,
                             uid_t owner = 0) const {
    const auto at = path_ / name;
    std::filesystem::create_symlink(target, at);
    REQUIRE(::lchown(at.c_str(), owner, owner) == 0);
    return at;
  }

  /// How many entries the folder holds (nothing left behind: only what the test made).
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(path_), {}));
  }

 private:
  std::filesystem::path path_;
};

}  // namespace actoken::testing
