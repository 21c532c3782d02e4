// Which folders may hold the daemon's socket (SPEC §6): owned by the daemon's
// uid or root, writable by no one else; a sticky shared folder such as /tmp
// is refused with the advice to use a folder of its own below it. (The socket
// itself is created by the integration tests, test_transport.)
#include "daemon/transport/unix_listener.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

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
