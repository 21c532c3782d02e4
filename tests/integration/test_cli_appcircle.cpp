// `actoken appcircle-config` against the real daemon (SPEC §1, §5): the official
// Appcircle CLI's config store at the path that CLI reads, with the token in
// envs[current].AC_ACCESS_TOKEN, every other field kept, replaced atomically with
// mode 0600, a symbolic link replaced and never followed, a broken file refused.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

// The Appcircle CLI's store keeps its fields in order: so do the tests that read it.
using ordered = nlohmann::ordered_json;

namespace {

// A daemon world plus a home folder for the Appcircle CLI's config.
struct config_world : daemon_world {
  using daemon_world::daemon_world;
  temp_dir home;
  std::filesystem::path xdg() const { return home.path() / "xdg"; }
  std::filesystem::path config_path() const {
    return xdg() / "@appcircle" / "cli-nodejs" / "config.json";
  }
  // `actoken appcircle-config args...` with HOME and XDG_CONFIG_HOME in the temp home.
  process_result run(std::vector<std::string> args,
                     std::map<std::string, std::string> env = {}) const {
    args.insert(args.begin(), {actoken_path(), "--socket", socket().string(), "appcircle-config"});
    env.try_emplace("HOME", home.path().string());
    env.try_emplace("XDG_CONFIG_HOME", xdg().string());
    return run_process(args, env);
  }
  std::string token() const {
    return daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  }
};

}  // namespace

TEST_CASE("a missing file is created with the public defaults, 0600 in 0700 folders") {
  config_world w;
  const auto result = w.run({"acme"});
  CHECK(result.exit_code == 0);
  CHECK(result.out.empty());
  CHECK(result.err.find("actoken: token for acme written to " + w.config_path().string()) !=
        std::string::npos);
  CHECK(result.err.find(w.token()) == std::string::npos);
  const auto written = ordered::parse(slurp(w.config_path()));
  CHECK(written == ordered::parse(R"({"current":"default","envs":{"default":{
      "API_HOSTNAME":"https://api.appcircle.io","AUTH_HOSTNAME":"https://auth.appcircle.io",
      "AC_ACCESS_TOKEN":")" + w.token() +
                                  R"("}}})"));
  CHECK(mode_of(w.config_path()) == 0600);
  CHECK(mode_of(w.config_path().parent_path()) == 0700);
  CHECK(mode_of(w.xdg() / "@appcircle") == 0700);
  // The stand-in is not Appcircle's public auth server: the new file's public host
  // names will not do, and the user is told which to set.
  CHECK(result.err.find("actoken: warning: organization acme uses the auth server " +
                        w.upstream.url()) != std::string::npos);
  CHECK(result.err.find("appcircle config set AUTH_HOSTNAME") != std::string::npos);
  CHECK(result.err.find("other users may enter") == std::string::npos);  // its folders are 0700
  // No file of ours left behind in the folder.
  CHECK(std::distance(std::filesystem::directory_iterator(w.config_path().parent_path()),
                      std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("without XDG_CONFIG_HOME the file is under $HOME/.config") {
  config_world w;
  const auto result = w.run({"acme", "--min-ttl", "60"}, {{"XDG_CONFIG_HOME", ""}});
  CHECK(result.exit_code == 0);
  const auto path = w.home.path() / ".config" / "@appcircle" / "cli-nodejs" / "config.json";
  CHECK(ordered::parse(slurp(path))["envs"]["default"]["AC_ACCESS_TOKEN"] == w.token());
}

TEST_CASE("the current environment gets the token; everything else is kept, in order") {
  config_world w;
  std::filesystem::create_directories(w.config_path().parent_path());
  ::chmod(w.config_path().parent_path().c_str(), 0755);
  const auto before = ordered::parse(R"({
    "__internal__": {"migrations": {"version": "2.7.3"}},
    "current": "corp",
    "envs": {
      "default": {"API_HOSTNAME": "https://api.appcircle.io",
                  "AUTH_HOSTNAME": "https://auth.appcircle.io", "AC_ACCESS_TOKEN": "keep-me"},
      "corp": {"API_HOSTNAME": "https://api.corp.example", "AUTH_HOSTNAME": "AUTH_URL",
               "AC_ACCESS_TOKEN": "old", "custom": {"x": [1, 2]}}
    },
    "unknown": true
  })");
  auto text = before.dump(1, '\t');
  text.replace(text.find("AUTH_URL"), 8, w.upstream.url());
  {
    std::ofstream file(w.config_path());
    file << text;
  }
  ::chmod(w.config_path().c_str(), 0644);
  const auto result = w.run({"acme"});
  CHECK(result.exit_code == 0);
  CHECK(result.err.find("(environment corp") != std::string::npos);
  CHECK(result.err.find("warning: environment") == std::string::npos);  // acme's server
  // The folder as the Appcircle CLI makes it (0755): the token is safe only until
  // that CLI saves its config again, with mode 0666.
  CHECK(result.err.find("actoken: warning: other users may enter " +
                        w.config_path().parent_path().string() + " (mode 0755)") !=
        std::string::npos);
  auto expected = ordered::parse(text);
  expected["envs"]["corp"]["AC_ACCESS_TOKEN"] = w.token();
  const auto after = slurp(w.config_path());
  CHECK(after == expected.dump(1, '\t'));  // same fields, same order, tab-indented as conf does
  CHECK(mode_of(w.config_path()) == 0600);
}

TEST_CASE("a symbolic link at the path is replaced, never followed") {
  config_world w;
  std::filesystem::create_directories(w.config_path().parent_path());
  const auto target =
      w.home.write("dotfiles-config.json",
                   R"({"current":"default","envs":{"default":{)"
                   R"("API_HOSTNAME":"https://api.x","AUTH_HOSTNAME":"https://auth.x"}}})",
                   0644);
  const auto target_before = slurp(target);
  std::filesystem::create_symlink(target, w.config_path());
  const auto result = w.run({"acme"});
  CHECK(result.exit_code == 0);
  CHECK(result.err.find("symbolic link") != std::string::npos);
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(w.config_path())));
  CHECK(mode_of(w.config_path()) == 0600);
  CHECK(slurp(target) == target_before);  // the token never went there
  // The link's content was the starting point: its host names are kept.
  const auto after = ordered::parse(slurp(w.config_path()));
  CHECK(after["envs"]["default"]["API_HOSTNAME"] == "https://api.x");
  CHECK(after["envs"]["default"]["AC_ACCESS_TOKEN"] == w.token());

  // A dangling link is as good as no file: defaults, and the link replaced.
  std::filesystem::remove(w.config_path());
  std::filesystem::create_symlink(w.home.path() / "nowhere" / "config.json", w.config_path());
  CHECK(w.run({"acme"}).exit_code == 0);
  CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(w.config_path())));
  CHECK_FALSE(std::filesystem::exists(w.home.path() / "nowhere"));
}

TEST_CASE("a file that is not a JSON object is refused and left as it was, no token asked") {
  config_world w;
  std::filesystem::create_directories(w.config_path().parent_path());
  for (const std::string before :
       {"{\"current\": \"default\", oops", "[1, 2]", R"({"envs": {"default": "x"}})", ""}) {
    CAPTURE(before);
    {
      std::ofstream file(w.config_path());
      file << before;
    }
    ::chmod(w.config_path().c_str(), 0644);
    const auto result = w.run({"acme"});
    CHECK(result.exit_code == 1);
    CHECK(result.err.starts_with("actoken: refusing to change " + w.config_path().string()));
    CHECK(result.err.ends_with("; it was left unchanged\n"));
    CHECK(slurp(w.config_path()) == before);
    CHECK(mode_of(w.config_path()) == 0644);
  }
  // A FIFO or a folder there is no config either (and never blocks the CLI).
  std::filesystem::remove(w.config_path());
  REQUIRE(::mkfifo(w.config_path().c_str(), 0600) == 0);
  const auto fifo = w.run({"acme"});
  CHECK(fifo.exit_code == 1);
  CHECK(fifo.err.find("not a regular file") != std::string::npos);
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("--file names another file; --json says what was written, without the token") {
  config_world w;
  const auto path = w.home.path() / "ci" / "appcircle.json";
  const auto result = w.run({"--json", "--file", path.string()});  // the only organization
  CHECK(result.exit_code == 0);
  const auto summary = ordered::parse(result.out);
  CHECK(summary["path"] == path.string());
  CHECK(summary["environment"] == "default");
  CHECK(summary["created"] == true);
  CHECK(summary["org"] == "acme");
  CHECK(result.out.find(w.token()) == std::string::npos);
  CHECK(ordered::parse(slurp(path))["envs"]["default"]["AC_ACCESS_TOKEN"] == w.token());
  CHECK_FALSE(std::filesystem::exists(w.config_path()));
}

namespace {

// Every entry below `folder` with its owner, mode and content: what "nothing
// changed" is compared with.
std::string snapshot(const std::filesystem::path& folder) {
  std::string out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(folder)) {
    struct stat info {};
    REQUIRE(::lstat(entry.path().c_str(), &info) == 0);
    out += entry.path().string() + " " + std::to_string(info.st_uid) + " " +
           std::to_string(info.st_mode) + " " +
           (S_ISREG(info.st_mode) ? slurp(entry.path()) : std::string()) + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("--file in another user's folder, or onto their file or link: exit 4, nothing changed") {
  // As root, with `nobody` (65534) as the other user: a folder they own or
  // may write is theirs to swap or read; their file or link is theirs to
  // choose the host names of, or where the token goes (issue 24).
  REQUIRE(::geteuid() == 0);
  config_world w;
  const uid_t other = 65534;
  const auto theirs = w.home.path() / "theirs";
  std::filesystem::create_directories(theirs);
  REQUIRE(::chown(theirs.c_str(), other, other) == 0);
  const std::string their_config =
      R"({"current":"default","envs":{"default":{"API_HOSTNAME":"https://api.evil",)"
      R"("AUTH_HOSTNAME":"https://auth.evil"}}})";
  const auto their_file = w.home.write("their-config.json", their_config, 0644);
  REQUIRE(::chown(their_file.c_str(), other, other) == 0);
  const auto mine = w.home.path() / "mine";
  std::filesystem::create_directories(mine);
  const auto shared = w.home.path() / "shared";
  std::filesystem::create_directories(shared);
  REQUIRE(::chmod(shared.c_str(), 0777) == 0);
  const auto group_shared = w.home.path() / "group-shared";
  std::filesystem::create_directories(group_shared);
  REQUIRE(::chown(group_shared.c_str(), 0, other) == 0);  // nogroup: others are in it
  REQUIRE(::chmod(group_shared.c_str(), 0770) == 0);
  std::filesystem::create_symlink(their_file, mine / "linked-to-theirs.json");
  std::filesystem::create_symlink(w.home.path() / "mine" / "new.json", mine / "their-link.json");
  REQUIRE(::lchown((mine / "their-link.json").c_str(), other, other) == 0);
  std::filesystem::copy_file(their_file, mine / "their-file.json");
  REQUIRE(::chown((mine / "their-file.json").c_str(), other, other) == 0);

  const std::vector<std::pair<std::filesystem::path, std::string>> refusals{
      {theirs / "config.json", "its folder " + theirs.string() + " belongs to uid 65534"},
      {theirs / "deeper" / "config.json",
       "the folder " + theirs.string() + ", where it would make folders, belongs to uid 65534"},
      {shared / "config.json",
       "its folder " + shared.string() + " is writable by others (mode 0777)"},
      {group_shared / "config.json",
       "its folder " + group_shared.string() + " is writable by its group, gid 65534 (mode 0770)"},
      {mine / "their-file.json", "it belongs to uid 65534"},
      {mine / "their-link.json", "it is a symbolic link of uid 65534"},
      {mine / "linked-to-theirs.json", "it is a symbolic link to a file of uid 65534"},
  };
  const auto before = snapshot(w.home.path());
  for (const auto& [path, why] : refusals) {
    CAPTURE(path);
    const auto result = w.run({"acme", "--file", path.string()});
    CHECK(result.exit_code == 4);
    CHECK(result.err == "actoken: refusing to change " + path.string() + ": " + why +
                            "; another user could take the token or choose where it goes; "
                            "nothing was changed\n");
    CHECK(snapshot(w.home.path()) == before);
  }
  // Refused before the daemon was asked for anything.
  CHECK(w.upstream.exchanges() == 0);
  // The caller's own folder is fine, also when its group may write and that
  // group is the caller's private one (root's `root`, with no members).
  const auto own = w.home.path() / "mine" / "ok.json";
  CHECK(w.run({"acme", "--file", own.string()}).exit_code == 0);
  REQUIRE(::chmod(mine.c_str(), 0770) == 0);
  CHECK(w.run({"acme", "--file", own.string()}).exit_code == 0);
}
