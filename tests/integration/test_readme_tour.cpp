// The README's five-minute tour, run as written (issue 26): its code blocks
// are read out of README.md itself and run by a user (nobody) in a clean
// shell, against the stand-in auth server. What the tour reaches beyond the
// daemon is stood in for on PATH: `curl` towards api.appcircle.io (every
// other URL goes to the real curl), Appcircle's `appcircle` CLI, and the
// `./deploy.sh` it runs. The config block is written where the tour says,
// with `auth_url` and `ca_file` added so that "auth.appcircle.io" is the stand-in.
#include "tests/integration/detach_shells.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/stand_in/pki.hpp"
#include "tests/test_files.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>

namespace stand_in = actoken::stand_in;

namespace {

constexpr auto mobile_id = "9b2f6d1e-0000-4000-8000-000000000001";

// The README's code blocks marked `<!-- test: NAME -->`, by name; and the
// first lines of blocks with neither that nor an `<!-- untested: why -->` marker.
struct readme {
  std::map<std::string, std::string> tested;
  std::vector<std::string> unmarked;
};

readme read_readme() {
  std::ifstream file(std::filesystem::path(ACTOKEN_SOURCE_DIR) / "README.md");
  REQUIRE(file.good());
  readme result;
  const std::regex test_marker(R"(^<!-- test: ([a-z0-9-]+) -->$)");
  const std::regex untested_marker(R"(^<!-- untested: .+ -->$)");
  std::string line;
  std::string marker;
  std::smatch match;
  while (std::getline(file, line)) {
    if (line.starts_with("```") && line.size() > 3) {
      std::string code;
      while (std::getline(file, line) && line != "```") code += line + "\n";
      if (std::regex_match(marker, match, test_marker)) {
        result.tested[match[1]] = code;
      } else if (!std::regex_match(marker, untested_marker)) {
        result.unmarked.push_back(code.substr(0, code.find('\n')));
      }
    }
    if (!line.empty()) marker = line;
  }
  return result;
}

const std::string& block(const readme& page, const std::string& name) {
  INFO("README.md has no code block marked `<!-- test: " << name << " -->`");
  REQUIRE(page.tested.count(name) == 1);
  return page.tested.at(name);
}

// Programs the tour reaches beyond actoken, in the user's ~/bin (first on PATH).
void install_stand_ins(const user_world& w) {
  const auto bin = w.home() / "bin";
  std::filesystem::create_directories(bin);
  const auto put = [&](const std::string& name, const std::string& text) {
    const auto path = bin / name;
    std::ofstream(path) << text;
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                  std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
  };
  // curl -H @- https://api.appcircle.io/...: the headers it read on stdin, kept.
  put("curl", R"(#!/bin/sh
case "$*" in
  *https://api.appcircle.io/*) cat > "$HOME/api-request"; echo '[]'; exit 0 ;;
esac
exec /usr/bin/curl "$@"
)");
  // Appcircle's CLI reads envs[current].AC_ACCESS_TOKEN of its config store (SPEC §1).
  put("appcircle", R"(#!/usr/bin/python3
import json, os, sys
base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.environ["HOME"], ".config")
with open(os.path.join(base, "@appcircle", "cli-nodejs", "config.json")) as f:
    store = json.load(f)
with open(os.path.join(os.environ["HOME"], "appcircle-token"), "w") as out:
    out.write(store["envs"][store["current"]]["AC_ACCESS_TOKEN"])
print("[]")
)");
  const auto deploy = w.home() / "deploy.sh";
  std::ofstream(deploy) << "#!/bin/sh\nprintf %s \"$AC_ACCESS_TOKEN\" > \"$HOME/deployed-with\"\n";
  ::chmod(deploy.c_str(), 0755);
  w.give(bin);
  for (const auto& path : {bin / "curl", bin / "appcircle", deploy}) {
    REQUIRE(::chown(path.c_str(), w.uid, w.gid) == 0);
  }
}

// The tour's config, with the stand-in as auth.appcircle.io.
void write_config(const user_world& w, const std::string& jsonc, const stand_in::server& upstream) {
  auto config = json::parse(jsonc, nullptr, true, /*ignore_comments=*/true);
  const auto folder = w.home() / ".config" / "actoken";
  w.give(w.home() / ".config");
  w.give(folder);
  const auto ca = folder / "stand-in-ca.pem";
  std::ofstream(ca) << upstream.pki().ca_cert_pem;
  config["auth_url"] = upstream.url();
  config["ca_file"] = ca.string();
  const auto file = folder / "actokend.json";
  std::ofstream(file) << config.dump(2);
  for (const auto& path : {ca, file}) REQUIRE(::chown(path.c_str(), w.uid, w.gid) == 0);
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

TEST_CASE("every code block of the README is run here or says why not") {
  const auto page = read_readme();
  for (const auto& first : page.unmarked) {
    CHECK_MESSAGE(false, "a README code block with no test or untested marker: " << first);
  }
  for (const auto* name : {"tour-key", "tour-config", "tour-start", "tour-use", "tour-keys"}) {
    CHECK_MESSAGE(page.tested.count(name) == 1, name);
  }
  // The tour starts the daemon the ssh-agent way.
  CHECK(block(page, "tour-start").find("eval \"$(actokend --detach)\"") != std::string::npos);
}

TEST_CASE("the README's tour runs as written, as a user in a clean shell") {
  if (::geteuid() != 0) return skip_case("needs root, to run the tour as another user");
  const auto page = read_readme();
  stand_in::server upstream;
  const auto key = awkward_key();
  upstream.add_account(key, acme_org_id, {mobile_id});
  upstream.start();
  user_world w;
  install_stand_ins(w);
  const std::map<std::string, std::string> path{
      {"PATH", (w.home() / "bin").string() + ":" + w.env().at("PATH")}};

  // The user's files: the tour's blocks, the key they paste, acme.key for step 4.
  const auto own = [&](const std::string& name, const std::string& text) {
    const auto file = w.home() / name;
    std::ofstream(file) << text;
    REQUIRE(::chown(file.c_str(), w.uid, w.gid) == 0);
    ::chmod(file.c_str(), 0600);
  };
  own("pasted", key + "\n");
  own("acme.key", key + "\n");
  own("tour-key.sh", block(page, "tour-key"));
  // Steps 2 to 4 in one shell, as typed in one terminal: `eval` sets ACTOKEN_SOCKET there.
  own("tour-session.sh",
      block(page, "tour-start") + block(page, "tour-use") + block(page, "tour-keys"));

  // 1. The key, pasted on stdin; the config where the tour says.
  const auto stored = finish(w.start_shell("cd && sh -e tour-key.sh < pasted", path));
  REQUIRE_MESSAGE(stored.exit_code == 0, stored.err);
  CHECK(slurp(w.home() / ".config/actoken/keys/acme.key") == key + "\n");
  CHECK(mode_of(w.home() / ".config/actoken/keys/acme.key") == 0600);
  write_config(w, block(page, "tour-config"), upstream);

  // 2 to 4.
  const auto session = finish(w.start_shell("cd && sh -e tour-session.sh", path));
  REQUIRE_MESSAGE(session.exit_code == 0, session.out, session.err);
  const auto token = first_line(session.out);
  CHECK(std::count(token.begin(), token.end(), '.') == 2);  // a JWT
  const auto rest = session.out.substr(token.size() + 1);
  const auto sub_org_token = first_line(rest);
  CHECK(std::count(sub_org_token.begin(), sub_org_token.end(), '.') == 2);
  CHECK(sub_org_token != token);
  // The header, the environment and Appcircle's config store all carried the token.
  CHECK(slurp(w.home() / "api-request") == "Authorization: Bearer " + token + "\n");
  CHECK(slurp(w.home() / "deployed-with") == token);
  CHECK(slurp(w.home() / "appcircle-token") == token);
  // The raw API answered from the cache; orgs, whoami and the check said their part.
  CHECK(session.out.find("\"access_token\":\"" + token + "\"") != std::string::npos);
  CHECK(session.out.find("\"source\":\"cache\"") != std::string::npos);
  CHECK(session.out.find("acme") != std::string::npos);
  CHECK(session.out.ends_with((w.home() / ".config" / "actoken" / "actokend.json").string() +
                              ": ok\n"));
  // Root, mobile, and the key added in step 4 tried once: three exchanges, one daemon.
  CHECK(upstream.exchanges_for(key) == 3);
  CHECK(w.daemons().size() == 1);
  // One organization is "1 organization".
  CHECK(slurp(w.log()).find(" listening on " + w.socket().string() +
                            " (1 organization, user mode)") != std::string::npos);
}
