// What the CLI says depends on the machine's accounts and sockets (SPEC §4
// names, §5 denials and `env`): a member of the socket's group whom the config
// does not name is named in `forbidden` and `whoami`; a user outside the
// socket's group is told the group and the `usermod` line that lets it in (or,
// added since it logged in, to log in again); `env` pins the socket where a
// daemon answers, not the first file that exists.
//
// Each case plays on a private stage: a child process in a mount namespace of
// its own, with fresh /tmp and /run and with /etc/passwd and /etc/group
// replaced by copies that add the test's users and group, so the host's
// accounts, /tmp and /run are never touched and no other test sees them. The
// stage writes what it saw to a pipe as `key=value` lines; the test checks them.
#include "tests/integration/harness.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/peers.hpp"
#include "tests/integration/private_stage.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace {

// The stage's accounts: carol is listed in the socket's group, dave is not.
constexpr uid_t carol_uid = 40010;
constexpr gid_t socket_gid = 40011;
constexpr uid_t dave_uid = 40012;
constexpr auto socket_group = "actoken-sock";
constexpr auto carol = "carol-actoken";
constexpr auto dave = "dave-actoken";

const std::string added_users = std::string(carol) + ":x:40010:40010::/nonexistent:/bin/false\n" +
                                dave + ":x:40012:40012::/nonexistent:/bin/false\n";
const std::string added_groups = std::string(socket_group) + ":x:40011:" + carol + "\n" + carol +
                                 ":x:40010:\n" + dave + ":x:40012:\n";

using report = stage_report;

// `real` (a copy of /etc/passwd or /etc/group) with `lines` added, bind-mounted
// over it. Only inside the stage's mount namespace.
bool replace_database(const fs::path& real, const std::string& lines, const fs::path& copy) {
  std::string text = slurp(real);
  if (!text.empty() && text.back() != '\n') text += '\n';
  {
    std::ofstream out(copy);
    out << text << lines;
  }
  ::chmod(copy.c_str(), 0644);
  return ::mount(copy.c_str(), real.c_str(), nullptr, MS_BIND, nullptr) == 0;
}

// Runs `play` in a child with a private mount namespace: fresh tmpfs on /tmp
// and /run, the test's accounts added to /etc/passwd and /etc/group. Returns
// what it reported, or nullopt when no such namespace can be made here.
std::optional<report> on_a_private_stage(const std::function<void(const stage&)>& play) {
  return reported_on_a_private_stage(
      stage_etc::shared,
      [] {
        return replace_database("/etc/passwd", added_users, "/run/passwd") &&
               replace_database("/etc/group", added_groups, "/run/group");
      },
      play);
}

// The system daemon's usual shape: socket mode 0660 for the group actoken-sock,
// and organization acme for root alone.
json group_socket_config() {
  return {{"socket_group", socket_group},
          {"socket_mode", "0660"},
          {"organizations", {{"acme", {{"allow", {{"users", {"root"}}}}}}}}};
}

// Runs the CLI as `who` on the stage and reports it under `name`.
void run_as(const stage& on, const std::string& name, const identity& who, const fs::path& socket,
            const std::vector<std::string>& args) {
  std::string out;
  std::string err;
  const int code = cli_as(who, socket, args, &out, &err);
  on.say_run(name, code, out, err);
}

}  // namespace

TEST_CASE("a member of the socket's group whom the config does not name is shown by name") {
  const auto said = on_a_private_stage([](const stage& on) {
    const temp_dir dir;
    dir.write("keys/acme.key", "a-key-nobody-uses\n");
    const daemon_process daemon(dir, group_socket_config());
    const identity member{carol_uid, carol_uid, {socket_gid}};
    run_as(on, "token", member, daemon.socket(), {"token", "acme"});
    run_as(on, "whoami", member, daemon.socket(), {"whoami"});
    run_as(on, "json", member, daemon.socket(), {"--json", "whoami"});
  });
  if (!said) {
    skip_case("no private mount namespace here (unshare/mount refused)");
    return;
  }
  auto at = [&](const std::string& key) { return said_for(*said, key); };
  CHECK_MESSAGE(!said->contains("exception"), at("exception"));
  const auto named = "user " + std::string(carol) + " (uid 40010)";
  CHECK(at("token.code") == "4");
  CHECK(at("token.out").empty());
  CHECK_MESSAGE(
      at("token.err").rfind("actoken: " + named + " may not use organization acme", 0) == 0,
      at("token.err"));
  CHECK(at("whoami.code") == "0");
  CHECK_MESSAGE(at("whoami.out").rfind(named + ", gid 40010", 0) == 0, at("whoami.out"));
  CHECK(json::parse(at("json.out"), nullptr, false)["user"] == carol);
}

TEST_CASE("a user outside the socket's group is told the group and the command that lets it in") {
  const auto said = on_a_private_stage([](const stage& on) {
    const temp_dir dir;
    dir.write("keys/acme.key", "a-key-nobody-uses\n");
    const daemon_process daemon(dir, group_socket_config());
    const identity outsider{dave_uid, dave_uid, {}};
    run_as(on, "token", outsider, daemon.socket(), {"token", "acme"});
    run_as(on, "json", outsider, daemon.socket(), {"token", "acme", "--json"});
    run_as(on, "env", outsider, daemon.socket(), {"env"});
    // Listed in the group since this login, but the session does not carry it yet.
    const identity since_login{carol_uid, carol_uid, {}};
    run_as(on, "stale", since_login, daemon.socket(), {"ping"});
    // A uid the password database does not know.
    const identity nameless{40013, 40013, {}};
    run_as(on, "nameless", nameless, daemon.socket(), {"ping"});
  });
  if (!said) {
    skip_case("no private mount namespace here (unshare/mount refused)");
    return;
  }
  auto at = [&](const std::string& key) { return said_for(*said, key); };
  CHECK_MESSAGE(!said->contains("exception"), at("exception"));
  const auto fix = "only members of group " + std::string(socket_group) +
                   " may connect; ask an administrator to run: usermod -aG " + socket_group + " " +
                   dave + ", then log in again\n";
  CHECK(at("token.code") == "4");
  CHECK(at("token.out").empty());
  CHECK_MESSAGE(
      at("token.err").rfind("actoken: permission denied connecting to actokend at ", 0) == 0,
      at("token.err"));
  CHECK_MESSAGE(at("token.err").ends_with(fix), at("token.err"));
  // --json: the same denial as an object on stdout, exit 4.
  CHECK(at("json.code") == "4");
  const auto object = json::parse(at("json.out"), nullptr, false);
  CHECK(object["error"] == "forbidden");
  CHECK(object["message"].get<std::string>().find("usermod -aG") != std::string::npos);
  // `env` at a socket that shuts the caller out: the same fix, nothing to eval.
  CHECK(at("env.code") == "4");
  CHECK(at("env.out").empty());
  CHECK(at("env.err").ends_with(fix));

  CHECK(at("stale.code") == "4");
  CHECK_MESSAGE(at("stale.err")
                    .ends_with("you are in group " + std::string(socket_group) +
                               ", but this session started before you were added; "
                               "log in again (or run `newgrp " +
                               socket_group + "`)\n"),
                at("stale.err"));
  CHECK(at("nameless.code") == "4");
  CHECK_MESSAGE(at("nameless.err")
                    .ends_with("ask an administrator to add your user (uid 40013) "
                               "to group " +
                               std::string(socket_group) + ", then log in again\n"),
                at("nameless.err"));
}

TEST_CASE("env pins the socket that answers, past a user socket nobody serves") {
  const auto said = on_a_private_stage([](const stage& on) {
    // $XDG_RUNTIME_DIR's socket is stale (a daemon killed with -9 leaves one);
    // /tmp/actoken-0 has none; the system daemon answers.
    const fs::path runtime = "/run/user/0";
    const auto stale = runtime / "actoken" / "actokend.sock";
    fs::create_directories(stale.parent_path());
    ::chmod(stale.parent_path().c_str(), 0700);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, stale.c_str(), sizeof address.sun_path - 1);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      on.say("exception", "cannot make the stale socket");
      return;
    }
    ::close(fd);
    const temp_dir dir;
    const daemon_process daemon(dir, {{"socket", "/run/actoken/actokend.sock"}});
    const std::map<std::string, std::string> session{{"XDG_RUNTIME_DIR", runtime.string()}};
    const auto line = run_process({actoken_path(), "env", "--shell", "sh"}, session);
    on.say_run("env", line.exit_code, line.out, line.err);
    // Every other command still follows discovery: the first socket that exists.
    const auto ping = run_process({actoken_path(), "ping"}, session);
    on.say_run("ping", ping.exit_code, ping.out, ping.err);
    // With the line eval'd, the same command reaches the daemon.
    const auto pinned = run_process(
        {"/bin/sh", "-c", "eval \"$LINE\"; exec \"$ACTOKEN\" ping"},
        {{"LINE", line.out}, {"ACTOKEN", actoken_path()}, {"XDG_RUNTIME_DIR", runtime.string()}});
    on.say_run("pinned", pinned.exit_code, pinned.out, pinned.err);
  });
  if (!said) {
    skip_case("no private mount namespace here (unshare/mount refused)");
    return;
  }
  auto at = [&](const std::string& key) { return said_for(*said, key); };
  CHECK_MESSAGE(!said->contains("exception"), at("exception"));
  CHECK_MESSAGE(at("env.code") == "0", at("env.err"));
  CHECK(at("env.out") == "ACTOKEN_SOCKET=/run/actoken/actokend.sock; export ACTOKEN_SOCKET;\n");
  CHECK(at("ping.code") == "3");
  CHECK(at("pinned.code") == "0");
}
