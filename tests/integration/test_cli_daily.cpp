// The CLI's daily edges against the real daemon (SPEC §5): `exec ORG`, refused
// --env names, did-you-mean, several organizations and no default, the orgs
// table after a failed exchange, and `actoken env` read back by real shells.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

namespace {

std::string token_of(const daemon_world& w, const std::string& org) {
  return w.daemon->get("/v1/token?org=" + org).json()["access_token"].get<std::string>();
}

// A world with acme and beta, and no default_org.
struct two_org_world : daemon_world {
  two_org_world() : daemon_world(world_options{.start_daemon = false}) {
    const std::string beta_key = awkward_key();
    upstream.add_account(beta_key, "6f1c2a8e-0000-4000-8000-0000000000b2");
    dir.write("keys/beta.key", beta_key + "\n");
    start();
  }
};

// The program a shell is found at, or empty.
std::string find_program(const std::string& name) {
  for (const auto* folder : {"/usr/bin/", "/bin/"}) {
    if (::access((folder + name).c_str(), X_OK) == 0) return folder + name;
  }
  return {};
}

}  // namespace

TEST_CASE("exec takes the organization as its first argument") {
  daemon_world w;
  const auto seen =
      w.cli({"exec", "acme", "--", "/bin/sh", "-c", "printf '%s' \"$AC_ACCESS_TOKEN\""});
  CHECK(seen.exit_code == 0);
  CHECK(seen.out == token_of(w, "acme"));
  CHECK(seen.err.empty());
}

TEST_CASE("exec refuses --env names the command needs, before asking the daemon") {
  daemon_world w;
  for (const auto* name : {"PATH", "HOME", "SHELL", "USER", "LOGNAME", "IFS", "LD_PRELOAD"}) {
    CAPTURE(name);
    const auto result = w.cli({"exec", "acme", "--env", name, "--", "/bin/true"});
    CHECK(result.exit_code == 2);
    CHECK(result.err.starts_with("actoken: --env: "));
  }
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("a mistyped organization: the nearest name, never `key add` under the typo") {
  two_org_world w;
  const auto typo = w.cli({"token", "acmee"});
  CHECK(typo.exit_code == 5);
  CHECK(typo.out.empty());
  CHECK(typo.err == "actoken: no organization named acmee; did you mean acme?\n");
  const auto far = w.cli({"exec", "zulu", "--", "/bin/true"});
  CHECK(far.exit_code == 5);
  CHECK(far.err == "actoken: no organization named zulu; you may use acme and beta\n");
  CHECK(w.cli({"flush", "bta"}).err == "actoken: no organization named bta; did you mean beta?\n");
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("several organizations and no default_org: exit 2 listing them") {
  two_org_world w;
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"token"}, {"header"}, {"exec", "--", "/bin/true"}, {"appcircle-config"}}) {
    CAPTURE(command.front());
    const auto result = w.cli(command);
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    CHECK(result.err ==
          "actoken: name an organization (there is no default_org); you may use acme and beta\n");
  }
  CHECK(w.cli({"token", "beta"}).exit_code == 0);
}

TEST_CASE("orgs: an organization whose last exchange failed is not shown as ok") {
  daemon_world w;
  // Rate limited: the daemon waits for the server, not for this organization, so its
  // state stays `ok` while its last exchange failed.
  w.tune([](stand_in::behaviour& b) {
    b.forced_status = 429;
    b.retry_after = "1";
  });
  CHECK(w.cli({"token", "acme"}).exit_code == 7);
  const auto view = w.org_view("acme");
  REQUIRE(view["last_error"].is_object());
  const std::string message = view["last_error"]["message"];
  CHECK(message.starts_with("organization acme: "));
  const auto table = w.cli({"orgs"});
  CHECK(table.exit_code == 0);
  std::string row;
  std::istringstream lines(table.out);
  while (std::getline(lines, row) && !row.starts_with("acme ")) {
  }
  CAPTURE(table.out);
  CHECK(row.starts_with("acme  " + std::string(view["state"] == "ok" ? "failing" : "backoff")));
  CHECK(row.find(" ok ") == std::string::npos);
  CHECK(row.ends_with(message.substr(std::string("organization acme: ").size())));
  CHECK(row.find("organization acme") == std::string::npos);
}

TEST_CASE("env: the socket this CLI would use, read back exactly by sh, csh and fish") {
  temp_dir dir;
  const std::string odd = (dir.path() / "it's $HOME `id` !x {a,b} \\ * \u00fc;|&").string();
  REQUIRE(::mkdir(odd.c_str(), 0700) == 0);
  const std::string socket = odd + "/actokend.sock";
  // `env` prints only a socket where something answers: a listener stands in for
  // the daemon (it is root's, as the test is, in a folder only root may write).
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  REQUIRE(socket.size() < sizeof address.sun_path);
  std::memcpy(address.sun_path, socket.c_str(), socket.size() + 1);
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 64) == 0);
  // Each shell runs `actoken env` as the docs say; this script stands for it, so no
  // shell has to quote the odd path on the command line.
  const auto print_line =
      dir.write("print-line",
                "#!/bin/sh\nexec \"$ACTOKEN\" --socket \"$SOCK\" env --shell \"$SYNTAX\"\n", 0700);
  struct shell_case {
    std::string shell;
    std::string syntax;
    std::string script;  // sets ACTOKEN_SOCKET from the line, prints it
  };
  const std::vector<shell_case> shells{
      {"sh", "sh", "eval \"$($PRINT_LINE)\"; printf '%s' \"$ACTOKEN_SOCKET\""},
      {"bash", "sh", "eval \"$($PRINT_LINE)\"; printf '%s' \"$ACTOKEN_SOCKET\""},
      {"tcsh", "csh", "eval \"`$PRINT_LINE`\"; printf '%s' \"$ACTOKEN_SOCKET\""},
      {"fish", "fish", "$PRINT_LINE | source; printf '%s' \"$ACTOKEN_SOCKET\""},
  };
  for (const auto& entry : shells) {
    const auto& shell = entry.shell;
    const auto& syntax = entry.syntax;
    const auto& script = entry.script;
    CAPTURE(shell);
    const auto program = find_program(shell);
    INFO(shell << " is not installed (scripts/bootstrap installs it)");
    REQUIRE(!program.empty());
    const std::map<std::string, std::string> env{{"ACTOKEN", actoken_path()},
                                                 {"SOCK", socket},
                                                 {"SYNTAX", syntax},
                                                 {"PRINT_LINE", print_line.string()},
                                                 {"ACTOKEN_SOCKET", "/elsewhere"},
                                                 // fish 3.6 in the C locale (no LANG, as
                                                 // in a bare chroot) re-encodes non-ASCII
                                                 // bytes of the environment it passes on
                                                 // as Latin-1; a session has a UTF-8 one.
                                                 {"LC_ALL", "C.UTF-8"}};
    const auto read_back = run_process({program, "-c", script}, env);
    CAPTURE(read_back.err);
    CHECK(read_back.exit_code == 0);
    CHECK(read_back.out == socket);
    // Without --shell, the syntax is $SHELL's.
    const auto line = run_process({actoken_path(), "--socket", socket, "env", "--shell", syntax});
    CHECK(run_process({actoken_path(), "--socket", socket, "env"}, {{"SHELL", program}}).out ==
          line.out);
  }
  ::close(listener);
}

TEST_CASE("env: discovery as every command does it, and `eval` carries it into a child") {
  temp_dir runtime;
  daemon_world w(world_options{
      .config = {{"socket", (runtime.path() / "actoken" / "actokend.sock").string()}}});
  const std::map<std::string, std::string> session{{"XDG_RUNTIME_DIR", runtime.path().string()},
                                                   {"SHELL", "/bin/sh"}};
  const auto line = run_process({actoken_path(), "env"}, session);
  CHECK(line.exit_code == 0);
  CHECK(line.out == "ACTOKEN_SOCKET=" + w.socket().string() + "; export ACTOKEN_SOCKET;\n");
  // As in a crontab line: no XDG_RUNTIME_DIR, the socket from the eval'd line.
  const auto cron = run_process(
      {"/bin/sh", "-c", "unset XDG_RUNTIME_DIR; eval \"$LINE\"; exec \"$ACTOKEN\" token acme"},
      {{"LINE", line.out}, {"ACTOKEN", actoken_path()}});
  CHECK(cron.exit_code == 0);
  CHECK(cron.out == token_of(w, "acme") + "\n");
}
