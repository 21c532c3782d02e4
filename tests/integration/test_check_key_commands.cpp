// `actokend --check-config` runs each organization's key_command once, as a
// start would (SPEC §2, issue 26 item 3): a working `pass` setup passes, a
// broken one is named with the right hint — the daemon's environment and a
// restart, never `actoken key add`, which is refused for such an organization.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

namespace {

constexpr auto environment_hint =
    "the daemon runs the command with its own environment (PATH, HOME, GNUPGHOME, "
    "DBUS_SESSION_BUS_ADDRESS); after changing that environment, restart the daemon: a reload "
    "keeps the old one";

// A password store holding `key` as appcircle/acme, encrypted to a throwaway
// gpg key without a passphrase; the variables that find it.
std::map<std::string, std::string> pass_store(const temp_dir& dir, const std::string& key) {
  const auto gnupg = dir.path() / "gnupg";
  std::filesystem::create_directories(gnupg);
  REQUIRE(::chmod(gnupg.c_str(), 0700) == 0);
  const std::map<std::string, std::string> env{
      {"GNUPGHOME", gnupg.string()}, {"PASSWORD_STORE_DIR", (dir.path() / "store").string()}};
  dir.write("gpg-batch",
            "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\n"
            "Subkey-Type: ECDH\nSubkey-Curve: cv25519\n"
            "Name-Real: actoken test\nName-Email: check@actoken.invalid\n"
            "Expire-Date: 0\n%commit\n");
  const auto made = run_process(
      {"/usr/bin/gpg", "--batch", "--gen-key", (dir.path() / "gpg-batch").string()}, env);
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  REQUIRE(run_process({"/usr/bin/pass", "init", "check@actoken.invalid"}, env).exit_code == 0);
  const auto inserted =
      run_process({"/usr/bin/pass", "insert", "-m", "appcircle/acme"}, env, key + "\n");
  REQUIRE_MESSAGE(inserted.exit_code == 0, inserted.err);
  return env;
}

bool have_pass() {
  for (const char* tool : {"/usr/bin/pass", "/usr/bin/gpg", "/usr/bin/gpgconf"}) {
    if (::access(tool, X_OK) != 0) {
      skip_case(std::string(tool) +
                " is not installed (scripts/bootstrap installs pass and gnupg)");
      return false;
    }
  }
  return true;
}

// The config's organizations, everything else inside `dir`.
std::filesystem::path write_config(const temp_dir& dir, const json& organizations) {
  const json config{{"socket", (dir.path() / "actokend.sock").string()},
                    {"key_dir", (dir.path() / "keys").string()},
                    {"organizations", organizations}};
  return dir.write("actokend.json", config.dump(2));
}

process_result check(const std::filesystem::path& config,
                     const std::map<std::string, std::string>& env) {
  return run_process({actokend_path(), "--user", "--check-config", "--config", config.string()},
                     env);
}

}  // namespace

TEST_CASE("--check-config runs a working pass key_command and passes; a broken one is named") {
  if (!have_pass()) return;
  temp_dir dir;
  const auto key = awkward_key();
  const auto env = pass_store(dir, key);

  const auto working =
      write_config(dir, {{"acme", {{"key_command", {"pass", "show", "appcircle/acme"}}}}});
  const auto passed = check(working, env);
  CHECK_MESSAGE(passed.exit_code == 0, passed.err);
  CHECK(passed.out == working.string() + ": ok\n");
  CHECK(passed.err.empty());
  CHECK(passed.out.find(key) == std::string::npos);

  // An entry that is not in the store: pass's own words, and the hint.
  const auto broken =
      write_config(dir, {{"acme", {{"key_command", {"pass", "show", "appcircle/acme"}}}},
                         {"beta", {{"key_command", {"pass", "show", "appcircle/beta"}}}}});
  const auto failed = check(broken, env);
  CHECK(failed.exit_code == 1);
  CHECK(failed.out.empty());
  const auto line = broken.string() +
                    ": organizations.beta: key_command pass failed (exit status 1): Error: "
                    "appcircle/beta is not in the password store.; " +
                    environment_hint + "\n";
  CHECK(failed.err == line);
  CHECK(failed.err.find("actoken key add") == std::string::npos);
  CHECK(failed.err.find(key) == std::string::npos);

  // The same command with another environment (a daemon started where
  // GNUPGHOME is not set): the check runs it with the environment it has.
  auto without_store = env;
  without_store["PASSWORD_STORE_DIR"] = (dir.path() / "nowhere").string();
  const auto elsewhere = check(working, without_store);
  CHECK(elsewhere.exit_code == 1);
  CHECK(elsewhere.err.find("organizations.acme: key_command pass failed") != std::string::npos);
  CHECK(elsewhere.err.find(environment_hint) != std::string::npos);
  run_process({"/usr/bin/gpgconf", "--kill", "all"}, env);
}

TEST_CASE("--check-config: a key_command not on PATH, or printing nothing, is a problem") {
  temp_dir dir;
  const auto silent = dir.write("bin/silent", "#!/bin/sh\nexit 0\n", 0755);
  const auto config =
      write_config(dir, {{"acme", {{"key_command", {"no-such-secret-tool"}}}},
                         {"beta", {{"key_command", {silent.string()}}}},
                         {"gamma", {{"key_command", {"/bin/echo", "a-key-from-gamma"}}}}});
  const auto result = check(config, {});
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("organizations.acme: key_command no-such-secret-tool: cannot run") !=
        std::string::npos);
  CHECK(result.err.find("organizations.beta: key_command " + silent.string() +
                        " printed no key on its first line") != std::string::npos);
  CHECK(result.err.find("organizations.gamma") == std::string::npos);
  CHECK(result.err.find("a-key-from-gamma") == std::string::npos);
  CHECK(result.err.find("has not run") == std::string::npos);
}

TEST_CASE("a request for an organization whose key_command failed gets the same hint") {
  world_options options;
  options.acme_key = false;
  options.start_daemon = false;
  daemon_world w(options);
  w.config["organizations"] = {{"acme", {{"key_command", {"/bin/false"}}}}};
  w.start();
  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 409);
  const auto message = reply.json()["message"].get<std::string>();
  CHECK(message.find("key_command /bin/false failed (exit status 1)") != std::string::npos);
  CHECK(message.find(environment_hint) != std::string::npos);
  CHECK(message.find("actoken key add") == std::string::npos);
  // /v1/orgs keeps the reason alone, as a problem of the organization.
  const auto acme = w.org_view("acme");
  CHECK(acme["problems"].dump().find(environment_hint) == std::string::npos);
}
