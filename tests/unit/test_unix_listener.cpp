// Which folders may hold the daemon's socket (SPEC §6): owned by the daemon's
// uid or root, writable by no one else; a sticky shared folder such as /tmp
// is refused with the advice to use a folder of its own below it. (The socket
// itself is created by the integration tests, test_transport.)
#include "daemon/transport/unix_listener.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

using actoken::transport::socket_folder_problem;

TEST_CASE("the daemon's own or root's folder that no one else can write is accepted") {
  for (const mode_t mode : {0700U, 0750U, 0755U, 0711U, 0500U, 02755U, 01755U}) {
    CAPTURE(mode);
    CHECK(socket_folder_problem(S_IFDIR | mode, 1000, 1000) == "");
    CHECK(socket_folder_problem(S_IFDIR | mode, 0, 1000) == "");
    CHECK(socket_folder_problem(S_IFDIR | mode, 0, 0) == "");
  }
}

TEST_CASE("another user's folder is refused, naming its owner") {
  CHECK(socket_folder_problem(S_IFDIR | 0700, 65534, 1000) ==
        "it belongs to uid 65534, not to the daemon's user (uid 1000) or root");
  CHECK(socket_folder_problem(S_IFDIR | 0700, 1000, 0) ==
        "it belongs to uid 1000, not to the daemon's user (uid 0) or root");
}

TEST_CASE("a folder others can write is refused; a sticky shared one gets the advice") {
  CHECK(socket_folder_problem(S_IFDIR | 01777, 0, 0) ==
        "anyone can write it (mode 1777, a shared folder like /tmp); use a folder of its own "
        "below it");
  CHECK(socket_folder_problem(S_IFDIR | 01777, 1000, 1000).find("own below it") !=
        std::string::npos);
  CHECK(socket_folder_problem(S_IFDIR | 0777, 0, 0) ==
        "others can write it (mode 0777) and so replace the socket");
  CHECK(socket_folder_problem(S_IFDIR | 0775, 1000, 1000) ==
        "others can write it (mode 0775) and so replace the socket");
  CHECK(socket_folder_problem(S_IFDIR | 01770, 0, 0) ==
        "others can write it (mode 1770) and so replace the socket");
}

namespace {

// What unix_listener::open throws for `path` ("" when it opens).
std::string open_problem(const std::filesystem::path& path) {
  try {
    actoken::transport::listen_options options;
    options.path = path;
    const auto listener = actoken::transport::unix_listener::open(options, std::nullopt);
  } catch (const actoken::transport::listen_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE(
    "paths refused before a socket is made: too long, no file name, a folder that cannot be") {
  char pattern[] = "/tmp/actoken-listener-XXXXXX";
  REQUIRE(::mkdtemp(pattern) != nullptr);
  const std::filesystem::path folder = pattern;

  const auto too_long = folder / std::string(120, 'x');
  CHECK(open_problem(too_long).find("is too long (at most 107 bytes)") != std::string::npos);
  CHECK(open_problem(folder / "..").find("names no file") != std::string::npos);
  CHECK(open_problem(folder / ".").find("names no file") != std::string::npos);

  // A file where the folder should be: it cannot be created, and nothing is.
  const auto file = folder / "file";
  { std::ofstream(file) << "x"; }
  const auto under_file = open_problem(file / "actokend.sock");
  CHECK(under_file.find("cannot ") != std::string::npos);
  CHECK(under_file.find(file.string()) != std::string::npos);
  CHECK(std::filesystem::is_regular_file(file));

  // And a good path opens (the socket and its lock go when the listener does).
  CHECK(open_problem(folder / "actokend.sock") == "");
  CHECK_FALSE(std::filesystem::exists(folder / "actokend.sock"));
  std::filesystem::remove_all(folder);
}
