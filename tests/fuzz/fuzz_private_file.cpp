// The private-file reader (daemon/platform/private_file.hpp). The input is a
// recipe (FuzzedDataProvider): what to plant at the path — a regular file, a
// FIFO, a folder, a symbolic link in a private, a world-writable or a sticky
// folder, a link to /dev/null — its mode, the size cap, whether it is read as
// a systemd credential, and the file's bytes.
//
// Properties: nothing crashes or blocks; the reader accepts exactly what SPEC
// §2 "Private files" accepts (a regular file, reached directly or through a
// link in a folder no one else can change, with no group or world bits, within
// the cap); an accepted file is read whole and unchanged, into a string and
// into locked memory alike; a refusal leaves the buffer empty, names the path
// and the check that failed, and never carries the file's bytes;
// `check_private_file` says what `read_private_file` says.
#include "daemon/platform/private_file.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace {

using namespace actoken::platform;
namespace fs = std::filesystem;

// What sits at the path the reader is given.
enum class planted : std::uint8_t {
  file,          // a regular file of the fuzzed mode
  fifo,          // a FIFO
  folder,        // a folder
  link_private,  // a link, in a folder only we can change, to a regular file
  link_open,     // a link in a world-writable folder
  link_sticky,   // a link of ours in a sticky world-writable folder
  link_device,   // a link, in our folder, to /dev/null
};
constexpr std::uint8_t planted_kinds = 7;

// Bytes no refusal could contain by chance: the path has no control characters.
constexpr std::string_view marker = "\x01private-content\x02";

// Folders made once per process: private (0700), open (0777), sticky (01777).
struct folders {
  fs::path root;
  fs::path own;
  fs::path open;
  fs::path sticky;

  folders() {
    std::string pattern = (fs::temp_directory_path() / "actoken-fuzz-private-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    root = pattern;
    own = make("own", 0700);
    open = make("open", 0777);
    sticky = make("sticky", 01777);
  }

  ~folders() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  folders(const folders&) = delete;
  folders& operator=(const folders&) = delete;

  fs::path make(const char* name, mode_t mode) const {
    const auto dir = root / name;
    fs::create_directory(dir);
    if (::chmod(dir.c_str(), mode) != 0) std::abort();
    return dir;
  }

  // Empties every folder the recipe writes to.
  void clear() const {
    for (const auto& dir : {own, open, sticky}) {
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        // A folder of mode 0000 cannot be emptied by its (non-root) owner.
        if (entry.is_directory(ec) && !entry.is_symlink(ec)) ::chmod(entry.path().c_str(), 0700);
        fs::remove_all(entry.path(), ec);
      }
    }
  }
};

const folders& scratch() {
  static const folders instance;
  return instance;
}

void write_file(const fs::path& path, std::string_view bytes, mode_t mode) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    std::abort();
  }
  std::fclose(file);
  if (::chmod(path.c_str(), mode) != 0) std::abort();
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const auto kind = static_cast<planted>(input.ConsumeIntegral<std::uint8_t>() % planted_kinds);
  const auto mode = static_cast<mode_t>(input.ConsumeIntegral<std::uint16_t>() & 0777);
  constexpr std::array<std::size_t, 4> caps{0, 16, 1024, default_private_file_cap};
  const auto cap = caps[input.ConsumeIntegral<std::uint8_t>() % caps.size()];
  const bool credential = input.ConsumeBool();
  const std::string bytes = std::string(marker) + input.ConsumeRemainingBytesAsString();

  const auto& dirs = scratch();
  dirs.clear();
  const auto target = dirs.own / "target";
  fs::path path = dirs.own / "acme.key";
  switch (kind) {
    case planted::file:
      write_file(path, bytes, mode);
      break;
    case planted::fifo:
      if (::mkfifo(path.c_str(), mode) != 0) std::abort();
      break;
    case planted::folder:
      fs::create_directory(path);
      if (::chmod(path.c_str(), mode) != 0) std::abort();
      break;
    case planted::link_private:
      write_file(target, bytes, mode);
      fs::create_symlink(target, path);
      break;
    case planted::link_open:
      write_file(target, bytes, mode);
      path = dirs.open / "acme.key";
      fs::create_symlink(target, path);
      break;
    case planted::link_sticky:
      write_file(target, bytes, mode);
      path = dirs.sticky / "acme.key";
      fs::create_symlink(target, path);
      break;
    case planted::link_device:
      fs::create_symlink("/dev/null", path);
      break;
  }

  const private_file_rules rules{
      .daemon_uid = ::geteuid(), .max_size = cap, .systemd_credential = credential};
  std::string text = "stale";
  secure_buffer locked("stale");
  const auto read = read_private_file(path, rules, text);
  const auto read_locked = read_private_file(path, rules, locked);
  const auto checked = check_private_file(path, rules);

  // What SPEC §2 accepts, for this process's uid (root reads whatever the mode).
  const bool regular =
      kind == planted::file || kind == planted::link_private || kind == planted::link_sticky;
  const bool root = ::geteuid() == 0;
  const bool acl_grant = credential && root && (mode & 037) == 0;  // the group read bit only
  const bool private_mode = (mode & 077) == 0 || acl_grant;
  const bool may_open = root || (mode & 0400) != 0;
  const bool accepted = regular && private_mode && may_open && bytes.size() <= cap;

  ACTOKEN_FUZZ_CHECK(read.status == read_locked.status && read.problem == read_locked.problem,
                     "the string and locked-memory readers disagree");
  ACTOKEN_FUZZ_CHECK(checked.status == read.status && checked.problem == read.problem,
                     "check_private_file and read_private_file disagree");
  ACTOKEN_FUZZ_CHECK(read.ok() == accepted,
                     "accepted what SPEC refuses, or refused what it accepts");
  ACTOKEN_FUZZ_CHECK(!read.missing(), "something was planted, yet it is `missing`");
  if (read.ok()) {
    ACTOKEN_FUZZ_CHECK(text == bytes && locked.view() == bytes, "the file was not read whole");
    ACTOKEN_FUZZ_CHECK(read.problem.empty(), "an accepted file comes with a problem");
    return 0;
  }
  ACTOKEN_FUZZ_CHECK(text.empty() && locked.empty(), "a refused file left bytes in the buffer");
  ACTOKEN_FUZZ_CHECK(contains(read.problem, path.string()), "a refusal does not name the path");
  ACTOKEN_FUZZ_CHECK(!contains(read.problem, marker), "a refusal carries the file's content");
  const auto says = [&read](std::string_view check) { return contains(read.problem, check); };
  switch (kind) {
    case planted::fifo:
      ACTOKEN_FUZZ_CHECK(says("is a FIFO"), "a FIFO is not called one");
      break;
    case planted::folder:
      ACTOKEN_FUZZ_CHECK(says("is a folder"), "a folder is not called one");
      break;
    case planted::link_open:
      ACTOKEN_FUZZ_CHECK(says("is a symbolic link in a folder others can write"),
                         "a link in a world-writable folder is refused for another reason");
      break;
    case planted::link_device:
      ACTOKEN_FUZZ_CHECK(says("(a link to /dev/null) is a character device"),
                         "a link to a device is not called one");
      break;
    default:
      ACTOKEN_FUZZ_CHECK(says("has mode") || says("is larger than") || says("cannot be opened"),
                         "a regular file is refused without naming mode, size or access");
      break;
  }
  return 0;
}
