// systemd's service protocols as daemon/platform speaks them: NOTIFY_SOCKET
// (path and abstract), WATCHDOG_USEC/WATCHDOG_PID and LISTEN_PID/LISTEN_FDS.
// tests/integration/test_systemd runs the daemon under systemd's own tools.
#include "daemon/platform/service_manager.hpp"
#include "tests/fault/fault.hpp"
#include "tests/test_env.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace platform = actoken::platform;
namespace fs = std::filesystem;
using actoken::testing::datagram_listener;
using actoken::testing::scoped_env;
using actoken::testing::scratch_dir;

namespace {

std::string unique_name(const char* what) {
  return std::string(what) + "-" + std::to_string(::getpid());
}

// Descriptors open in this process now.
std::size_t open_descriptors() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

}  // namespace

TEST_CASE("notify: sends one datagram to a NOTIFY_SOCKET path") {
  const auto path = std::filesystem::temp_directory_path() / unique_name("actoken-notify");
  std::filesystem::remove(path);
  const datagram_listener manager(path.string());
  const scoped_env env("NOTIFY_SOCKET", path.c_str());
  platform::notify("READY=1");
  platform::notify("STATUS=serving 2 organizations");
  CHECK(manager.next() == "READY=1");
  CHECK(manager.next() == "STATUS=serving 2 organizations");
  CHECK_FALSE(manager.next().has_value());
  std::filesystem::remove(path);
}

TEST_CASE("notify: '@' names a socket in the abstract namespace") {
  const auto name = "@" + unique_name("actoken-notify-abstract");
  const datagram_listener manager(name);
  const scoped_env env("NOTIFY_SOCKET", name.c_str());
  platform::notify("WATCHDOG=1");
  CHECK(manager.next() == "WATCHDOG=1");
}

TEST_CASE("notify: no NOTIFY_SOCKET, or one it cannot use, is a quiet no-op") {
  // "Quiet" is observable: nothing arrives at a listener where a careless
  // implementation would send (relative to the working folder, or at a long
  // path cut to fit sun_path), and no descriptor is left open.
  const scratch_dir dir;
  const auto cwd = fs::current_path();
  fs::current_path(dir.path());
  fs::create_directory("relative");
  const datagram_listener relative("relative/path");
  // 200 bytes do not fit sun_path (108): a listener waits where a cut would send.
  const auto too_long = dir.path().string() + "/" + std::string(200, 'x');
  const datagram_listener cut(too_long.substr(0, sizeof(sockaddr_un{}.sun_path) - 1));
  const auto before = open_descriptors();
  {
    const scoped_env env("NOTIFY_SOCKET", nullptr);
    platform::notify("READY=1");
  }
  for (const std::string odd :
       {"", "/", "@", "relative/path", "vsock:2:1234", "/no/such/dir/notify", too_long.c_str()}) {
    CAPTURE(odd);
    const scoped_env env("NOTIFY_SOCKET", odd.c_str());
    platform::notify("READY=1");
  }
  CHECK(open_descriptors() == before);
  CHECK_FALSE(relative.next().has_value());
  CHECK_FALSE(cut.next().has_value());
  fs::current_path(cwd);

  // The control: the same listeners do receive what is addressed to them.
  {
    const scoped_env env("NOTIFY_SOCKET", cut.name().c_str());
    platform::notify("READY=1");
  }
  CHECK(cut.next() == "READY=1");
}

TEST_CASE("watchdog_interval: WATCHDOG_USEC, for this process only") {
  const auto self = std::to_string(::getpid());
  const auto other = std::to_string(::getpid() + 1);
  {
    const scoped_env usec("WATCHDOG_USEC", "2000000");
    const scoped_env pid("WATCHDOG_PID", nullptr);
    CHECK(platform::watchdog_interval() == std::chrono::seconds{2});
  }
  {
    const scoped_env usec("WATCHDOG_USEC", "2000000");
    const scoped_env pid("WATCHDOG_PID", self.c_str());
    CHECK(platform::watchdog_interval() == std::chrono::seconds{2});
  }
  {
    const scoped_env usec("WATCHDOG_USEC", "2000000");
    const scoped_env pid("WATCHDOG_PID", other.c_str());
    CHECK_FALSE(platform::watchdog_interval().has_value());
  }
  for (const char* odd : {"", "0", "-5", "12abc", "99999999999999999999999"}) {
    const scoped_env usec("WATCHDOG_USEC", odd);
    CHECK_FALSE(platform::watchdog_interval().has_value());
  }
  const scoped_env usec("WATCHDOG_USEC", nullptr);
  CHECK_FALSE(platform::watchdog_interval().has_value());
}

TEST_CASE("activated_socket: only for this LISTEN_PID, only a listening Unix stream socket") {
  const auto self = std::to_string(::getpid());
  const auto other = std::to_string(::getpid() + 1);
  // Whatever happens, the variables are gone afterwards (children must not see them).
  const auto consumed = [] {
    return std::getenv("LISTEN_PID") == nullptr && std::getenv("LISTEN_FDS") == nullptr &&
           std::getenv("LISTEN_FDNAMES") == nullptr;
  };

  // Put a socket of the kind under test at fd 3, as systemd would.
  const auto at_fd3 = [](int fd) {
    REQUIRE(fd >= 0);
    if (fd != 3) {
      REQUIRE(::dup2(fd, 3) == 3);
      ::close(fd);
    }
  };
  const int saved = ::fcntl(3, F_DUPFD_CLOEXEC, 10);  // fd 3 may be in use (ctest, sanitizers)

  SUBCASE("listening Unix stream socket, ours: served, and made close-on-exec") {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto name = unique_name("actoken-activated");
    std::memcpy(address.sun_path + 1, name.data(), name.size());
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    at_fd3(fd);
    const scoped_env pid("LISTEN_PID", self.c_str());
    const scoped_env fds("LISTEN_FDS", "1");
    const scoped_env names("LISTEN_FDNAMES", "actokend.socket");
    CHECK(platform::activated_socket() == 3);
    CHECK((::fcntl(3, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(consumed());
  }
  SUBCASE("meant for another process: not taken") {
    const scoped_env pid("LISTEN_PID", other.c_str());
    const scoped_env fds("LISTEN_FDS", "1");
    CHECK_FALSE(platform::activated_socket().has_value());
    CHECK(consumed());
  }
  SUBCASE("a Unix socket that is not listening: refused") {
    at_fd3(::socket(AF_UNIX, SOCK_STREAM, 0));
    const scoped_env pid("LISTEN_PID", self.c_str());
    const scoped_env fds("LISTEN_FDS", "1");
    CHECK_FALSE(platform::activated_socket().has_value());
  }
  SUBCASE("a datagram socket: refused") {
    at_fd3(::socket(AF_UNIX, SOCK_DGRAM, 0));
    const scoped_env pid("LISTEN_PID", self.c_str());
    const scoped_env fds("LISTEN_FDS", "1");
    CHECK_FALSE(platform::activated_socket().has_value());
  }
  SUBCASE("a plain file: refused") {
    at_fd3(::open("/dev/null", O_RDONLY));
    const scoped_env pid("LISTEN_PID", self.c_str());
    const scoped_env fds("LISTEN_FDS", "1");
    CHECK_FALSE(platform::activated_socket().has_value());
  }
  SUBCASE("a listening socket the system will not describe: refused, at each look") {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const auto name = unique_name("actoken-activated-faults");
    std::memcpy(address.sun_path + 1, name.data(), name.size());
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    at_fd3(fd);
    for (const actoken::testing::fault& planned :
         {actoken::testing::fault{.call = "fstat", .error = EIO},
          actoken::testing::fault{.call = "getsockopt", .error = EIO},
          actoken::testing::fault{.call = "getsockopt", .error = EIO, .skip = 1},
          actoken::testing::fault{.call = "getsockname", .error = ENOBUFS}}) {
      CAPTURE(planned.call);
      CAPTURE(planned.skip);
      const scoped_env pid("LISTEN_PID", self.c_str());
      const scoped_env fds("LISTEN_FDS", "1");
      const actoken::testing::fault_scope f(planned);
      CHECK_FALSE(platform::activated_socket().has_value());
      CHECK(f.hits() == 1);
    }
    // A descriptor whose flags cannot be read is left as it is; the socket is still served.
    const scoped_env pid("LISTEN_PID", self.c_str());
    const scoped_env fds("LISTEN_FDS", "1");
    const actoken::testing::fault_scope flags({.call = "fcntl", .error = EBADF});
    CHECK(platform::activated_socket() == 3);
    CHECK(flags.hits() == 1);
  }
  SUBCASE("LISTEN_FDS empty, or more than 1024: not taken") {
    for (const char* count : {"", "1025"}) {
      CAPTURE(count);
      const scoped_env pid("LISTEN_PID", self.c_str());
      const scoped_env fds("LISTEN_FDS", count);
      CHECK_FALSE(platform::activated_socket().has_value());
      CHECK(consumed());
    }
  }
  SUBCASE("no descriptors passed") {
    const scoped_env pid("LISTEN_PID", self.c_str());
    const scoped_env fds("LISTEN_FDS", "0");
    CHECK_FALSE(platform::activated_socket().has_value());
  }

  if (saved >= 0) {
    ::dup2(saved, 3);
    ::close(saved);
  } else {
    ::close(3);
  }
}

TEST_CASE("JOURNAL_STREAM: only the very stream stderr is; garbage or a failing fstat is not") {
  struct stat err {};
  REQUIRE(::fstat(2, &err) == 0);
  const auto ours = std::to_string(err.st_dev) + ":" + std::to_string(err.st_ino);
  const auto other_inode = std::to_string(err.st_dev) + ":" + std::to_string(err.st_ino + 1);
  {
    const scoped_env stream("JOURNAL_STREAM", ours.c_str());
    CHECK(platform::stderr_is_journal());
    const actoken::testing::fault_scope f({.call = "fstat", .error = EBADF});
    CHECK_FALSE(platform::stderr_is_journal());
  }
  for (const char* odd : {"", "journal", "12", other_inode.c_str()}) {
    CAPTURE(odd);
    const scoped_env stream("JOURNAL_STREAM", odd);
    CHECK_FALSE(platform::stderr_is_journal());
  }
}

TEST_CASE("notify: a socket that cannot be made sends nothing and leaves nothing open") {
  const scoped_env socket("NOTIFY_SOCKET", "/run/actoken-no-such-notify-socket");
  const auto before = open_descriptors();
  const actoken::testing::fault_scope f({.call = "socket", .error = EMFILE});
  platform::notify("READY=1");
  CHECK(f.hits() == 1);
  CHECK(open_descriptors() == before);
}
