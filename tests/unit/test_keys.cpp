// The key store (SPEC §2 "Organizations and keys"): key files read as ssh
// reads a private key, where each organization's key comes from, and keys
// written at runtime. Works on a temporary folder; chown needs root (CI).
#include "daemon/keys/key_command.hpp"
#include "daemon/keys/org_table.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>

using namespace actoken;
using namespace actoken::testing;

namespace {

constexpr uid_t nobody_uid = 65534;
constexpr gid_t nobody_gid = 65534;

std::string key_of(const org_table& table, const std::string& org) {
  const auto it = table.find(org);
  REQUIRE_MESSAGE(it != table.end(), "no organization " << org);
  REQUIRE_MESSAGE(it->second->key != nullptr, org << ": " << it->second->key_problem);
  return std::string(it->second->key->view());
}

std::string read_ok(const std::filesystem::path& path, uid_t daemon_uid = ::geteuid()) {
  std::string problem;
  const auto key = read_key_file(path, daemon_uid, problem);
  REQUIRE_MESSAGE(key != nullptr, problem);
  CHECK(problem.empty());
  return std::string(key->view());
}

std::string read_refused(const std::filesystem::path& path, uid_t daemon_uid = ::geteuid()) {
  std::string problem;
  const auto key = read_key_file(path, daemon_uid, problem);
  CHECK(key == nullptr);
  CHECK_FALSE(problem.empty());
  return problem;
}

runtime_key runtime(const std::string& key, std::optional<std::string> auth_url = std::nullopt) {
  return runtime_key{std::make_shared<const platform::secure_buffer>(key), std::move(auth_url),
                     std::nullopt};
}

}  // namespace

TEST_CASE("a key file: the first line, surrounding white space trimmed") {
  scratch_dir dir;
  CHECK(read_ok(dir.write("a.key", "ac+/key==\n")) == "ac+/key==");
  CHECK(read_ok(dir.write("b.key", "  \tac+/key==  \r\nsecond line\n")) == "ac+/key==");
  CHECK(read_ok(dir.write("c.key", "no-newline")) == "no-newline");
  CHECK(read_ok(dir.write("d.key", "key with inner space\n")) == "key with inner space");
}

TEST_CASE("an empty key file, or one whose first line is blank, is refused") {
  scratch_dir dir;
  for (const auto* text : {"", "\n", "   \t\r\n", "\nkey-on-line-two\n"}) {
    CAPTURE(text);
    const auto problem = read_refused(dir.write("empty.key", text));
    CHECK(problem.find("empty") != std::string::npos);
  }
}

TEST_CASE("a group- or world-accessible key file is refused, naming the mode, not the key") {
  scratch_dir dir;
  for (const unsigned mode : {0640U, 0604U, 0660U, 0644U, 0610U, 0601U}) {
    CAPTURE(mode);
    const auto path = dir.write("loose.key", "secret-loose-key\n", mode);
    const auto problem = read_refused(path);
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    CHECK(problem.find(path.string()) != std::string::npos);
    CHECK(problem.find(octal) != std::string::npos);
    CHECK(problem.find("secret-loose-key") == std::string::npos);
  }
  CHECK(read_ok(dir.write("tight.key", "k\n", 0400)) == "k");
}

TEST_CASE("a key file owned by another uid is refused; the daemon's uid and root are fine") {
  scratch_dir dir;
  const auto path = dir.write("theirs.key", "their-key\n");
  REQUIRE_MESSAGE(::chown(path.c_str(), nobody_uid, nobody_gid) == 0, "tests run as root");
  const auto problem = read_refused(path, /*daemon_uid=*/1234);
  CHECK(problem.find("owned by uid 65534") != std::string::npos);
  CHECK(problem.find("their-key") == std::string::npos);

  // The same file is fine for a daemon running as its owner...
  CHECK(read_ok(path, nobody_uid) == "their-key");
  // ...and a root-owned file is fine for any daemon.
  const auto roots = dir.write("root.key", "root-key\n");
  REQUIRE(::chown(roots.c_str(), 0, 0) == 0);
  CHECK(read_ok(roots, /*daemon_uid=*/1234) == "root-key");
}

// systemd's LoadCredential= hands over a root-owned copy that an ACL lets the
// daemon's user read, so the group bits show r--: accepted only there.
TEST_CASE("a systemd credential may be group-readable when root owns it, nothing more") {
  scratch_dir dir;
  const auto path = dir.write("creds/acme.key", "credential-key\n", 0440);
  REQUIRE(::chown(path.c_str(), 0, 0) == 0);
  std::string problem;
  CHECK(read_key_file(path, 1234, problem, /*systemd_credential=*/true) != nullptr);
  CHECK(read_refused(path, 1234).find("0440") != std::string::npos);  // not a credential

  for (const unsigned mode : {0444U, 0460U, 0441U}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    problem.clear();
    CHECK(read_key_file(path, 1234, problem, true) == nullptr);
    CHECK_FALSE(problem.empty());
  }
  REQUIRE(::chmod(path.c_str(), 0440) == 0);
  REQUIRE(::chown(path.c_str(), nobody_uid, nobody_gid) == 0);
  problem.clear();
  CHECK(read_key_file(path, 1234, problem, true) == nullptr);

  // load_org_table treats key files in $CREDENTIALS_DIRECTORY as credentials.
  REQUIRE(::chown(path.c_str(), 0, 0) == 0);
  const auto elsewhere = dir.write("etc/beta.key", "beta-key\n", 0440);
  REQUIRE(::chown(elsewhere.c_str(), 0, 0) == 0);
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  cfg.credentials_dir = dir.path() / "creds";
  cfg.organizations["acme"].key_file = path;
  cfg.organizations["beta"].key_file = elsewhere;
  const auto table = load_org_table(cfg, {}, 1234);
  CHECK(key_of(table, "acme") == "credential-key");
  CHECK(table.at("beta")->key == nullptr);
  CHECK(table.at("beta")->key_problem.find("0440") != std::string::npos);
}

TEST_CASE("missing files, folders and FIFOs are not key files; a link only in a safe folder") {
  scratch_dir dir;
  CHECK(read_refused(dir.path() / "absent.key").find("does not exist") != std::string::npos);
  std::filesystem::create_directory(dir.path() / "folder.key");
  ::chmod((dir.path() / "folder.key").c_str(), 0700);
  CHECK(read_refused(dir.path() / "folder.key").find("is a folder") != std::string::npos);
  const auto fifo = dir.path() / "fifo.key";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK(read_refused(fifo) == "key file " + fifo.string() + " is a FIFO");

  // The scratch folder is root's and 0700: a link there is followed...
  const auto target = dir.write("target.key", "k\n");
  std::filesystem::create_symlink(target, dir.path() / "link.key");
  CHECK(read_ok(dir.path() / "link.key") == "k");
  // ...in a folder others can write, it is not.
  const auto open = dir.path() / "open";
  std::filesystem::create_directory(open);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  std::filesystem::create_symlink(target, open / "link.key");
  CHECK(read_refused(open / "link.key").find("is a symbolic link in a folder others can write") !=
        std::string::npos);
}

TEST_CASE("load_org_table: FIFOs, devices and other users' files in key_dir never block or count") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  cfg.auth_url = "https://auth.default.example";
  dir.write("keys/good.key", "good-key\n");
  std::filesystem::create_directories(cfg.key_dir);
  REQUIRE(::mkfifo((cfg.key_dir / "fifo.key").c_str(), 0600) == 0);
  // A FIFO .json beside a good key: read without waiting, ignored.
  dir.write("keys/beta.key", "beta-key\n");
  REQUIRE(::mkfifo((cfg.key_dir / "beta.json").c_str(), 0600) == 0);
  // Another user's .json would send the key elsewhere: ignored.
  dir.write("keys/gamma.key", "gamma-key\n");
  const auto foreign =
      dir.write("keys/gamma.json", R"({"auth_url": "https://attacker.example"})", 0600);
  REQUIRE(::chown(foreign.c_str(), nobody_uid, nobody_gid) == 0);
  // A link to /dev/zero would grow the daemon without end: refused.
  dir.write("keys/delta.key", "delta-key\n");
  std::filesystem::create_symlink("/dev/zero", cfg.key_dir / "delta.json");

  const auto table = load_org_table(cfg, {}, ::geteuid());
  CHECK(key_of(table, "good") == "good-key");
  CHECK(table.at("good")->problems.empty());

  const auto& fifo = *table.at("fifo");
  CHECK(fifo.key == nullptr);
  CHECK(fifo.key_problem.find("is a FIFO") != std::string::npos);
  CHECK(fifo.problems == std::vector<std::string>{fifo.key_problem});

  const auto& beta = *table.at("beta");
  CHECK(key_of(table, "beta") == "beta-key");
  REQUIRE(beta.problems.size() == 1);
  CHECK(beta.problems[0] ==
        "settings file " + (cfg.key_dir / "beta.json").string() + " is a FIFO; ignored");

  const auto& gamma = *table.at("gamma");
  CHECK(key_of(table, "gamma") == "gamma-key");
  CHECK(gamma.auth_url == "https://auth.default.example");
  REQUIRE(gamma.problems.size() == 1);
  CHECK(gamma.problems[0].find("is owned by uid 65534, neither the daemon's user nor root") !=
        std::string::npos);
  CHECK(gamma.problems[0].find("attacker") == std::string::npos);  // never the content

  const auto& delta = *table.at("delta");
  CHECK(key_of(table, "delta") == "delta-key");
  REQUIRE(delta.problems.size() == 1);
  CHECK(delta.problems[0].find("(a link to /dev/zero) is a character device") != std::string::npos);
}

TEST_CASE("load_org_table: a refused key_dir gives no organization and no key") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  dir.write("keys/acme.key", "acme-key\n");
  dir.write("keys/listed.key", "listed-key\n");
  dir.write("elsewhere/own.key", "own-key\n");
  cfg.organizations["listed"] = {};
  cfg.organizations["own"].key_file = dir.path() / "elsewhere/own.key";
  std::map<std::string, runtime_key> added{{"rt", runtime("rt-key")}};

  const auto check = [&](const std::string& reason) {
    CAPTURE(reason);
    const auto table = load_org_table(cfg, added, ::geteuid());
    CHECK(table.count("acme") == 0);  // named only by a file in the refused key_dir
    const auto& listed = *table.at("listed");
    CHECK(listed.key == nullptr);
    CHECK(listed.key_problem.find("key_dir " + cfg.key_dir.string()) != std::string::npos);
    CHECK(listed.key_problem.find(reason) != std::string::npos);
    CHECK(listed.problems == std::vector<std::string>{listed.key_problem});
    CHECK(key_of(table, "own") == "own-key");  // not from key_dir: unaffected
    CHECK(key_of(table, "rt") == "rt-key");
    CHECK(key_dir_problem(cfg.key_dir, ::geteuid()) == listed.key_problem);
  };
  REQUIRE(::chmod(cfg.key_dir.c_str(), 0777) == 0);
  check("has mode 0777: writable by group or others without the sticky bit");
  REQUIRE(::chmod(cfg.key_dir.c_str(), 0775) == 0);
  check("has mode 0775");
  REQUIRE(::chmod(cfg.key_dir.c_str(), 0700) == 0);
  REQUIRE(::chown(cfg.key_dir.c_str(), nobody_uid, nobody_gid) == 0);
  check("is owned by uid 65534, neither the daemon's user nor root");

  // Sticky and root's (as /tmp or a Kubernetes Secret volume): accepted.
  REQUIRE(::chown(cfg.key_dir.c_str(), 0, 0) == 0);
  REQUIRE(::chmod(cfg.key_dir.c_str(), 01777) == 0);
  CHECK(key_dir_problem(cfg.key_dir, ::geteuid()).empty());
  const auto table = load_org_table(cfg, added, ::geteuid());
  CHECK(key_of(table, "acme") == "acme-key");
  CHECK(key_of(table, "listed") == "listed-key");
}

TEST_CASE("load_org_table: a Kubernetes Secret volume as key_dir") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "secret";
  const std::string stamp = "..2026_11_30_10_00_00.123456789";
  dir.write("secret/" + stamp + "/acme.key", "k8s-acme\n", 0400);
  REQUIRE(::chmod(cfg.key_dir.c_str(), 01777) == 0);
  std::filesystem::create_symlink(stamp, cfg.key_dir / "..data");
  std::filesystem::create_symlink("..data/acme.key", cfg.key_dir / "acme.key");
  const auto table = load_org_table(cfg, {}, 1234);  // a daemon user, root-owned volume
  CHECK(table.size() == 1);
  CHECK(key_of(table, "acme") == "k8s-acme");
  CHECK(table.at("acme")->source == key_source::key_dir);
}

// SPEC §6: key files are written and removed through the walk to key_dir;
// every folder on the way is judged, not key_dir alone.
TEST_CASE("persist_key writes nothing where the walk to key_dir is refused, and says why") {
  scratch_dir dir;
  const auto refused = [&](const std::filesystem::path& key_dir) {
    try {
      persist_key(key_dir, "acme", platform::secure_buffer("k"), std::nullopt, std::nullopt);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("written");
  };
  const auto open = dir.path() / "open";
  std::filesystem::create_directories(open);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  CHECK(refused(open) == "key_dir " + open.string() + " is writable by others (mode 0777)");
  CHECK(std::filesystem::is_empty(open));
  // Sticky: read as SPEC §2 says (a Secret volume), but never written.
  REQUIRE(::chmod(open.c_str(), 01777) == 0);
  CHECK(refused(open).find("is writable by others (mode 1777") != std::string::npos);

  // A group-writable ancestor: its group could swap key_dir for a folder of theirs.
  const auto group = dir.path() / "group";
  std::filesystem::create_directories(group / "keys");
  REQUIRE(::chmod(group.c_str(), 0775) == 0);
  CHECK(refused(group / "keys") ==
        "key_dir " + group.string() + " is writable by its group (mode 0775)");
  CHECK(std::filesystem::is_empty(group / "keys"));
  // Nor created below it.
  CHECK(refused(group / "new" / "keys") ==
        "key_dir " + group.string() + " is writable by its group (mode 0775)");
  CHECK_FALSE(std::filesystem::exists(group / "new"));

  // A link on the way that is not root's.
  const auto real = dir.path() / "real";
  std::filesystem::create_directories(real);
  const auto link = dir.path() / "link";
  std::filesystem::create_directory_symlink(real, link);
  REQUIRE(::lchown(link.c_str(), 65534, 65534) == 0);
  CHECK(refused(link / "keys") ==
        "key_dir " + link.string() +
            " is a symbolic link owned by uid 65534: only root's links in folders only root can "
            "write are followed");
  CHECK(std::filesystem::is_empty(real));
}

TEST_CASE("remove_persisted_key removes nothing where the walk to key_dir is refused") {
  scratch_dir dir;
  const auto key_dir = dir.path() / "parent" / "keys";
  persist_key(key_dir, "acme", platform::secure_buffer("k"), std::nullopt, std::nullopt);
  REQUIRE(::chmod((dir.path() / "parent").c_str(), 0770) == 0);
  CHECK_THROWS_WITH_AS(
      remove_persisted_key(key_dir, "acme"),
      ("key_dir " + (dir.path() / "parent").string() + " is writable by its group (mode 0770)")
          .c_str(),
      std::runtime_error);
  CHECK(std::filesystem::exists(key_dir / "acme.key"));
  CHECK_FALSE(
      remove_persisted_key(dir.path() / "absent", "acme"));  // no key_dir: nothing to remove
  // Stale temporary files are left alone there too.
  dir.write("parent/keys/.acme.key.tmp42", "k");
  CHECK(remove_stale_key_files(key_dir, ::geteuid()) == 0);
  REQUIRE(::chmod((dir.path() / "parent").c_str(), 0700) == 0);
  CHECK(remove_stale_key_files(key_dir, ::geteuid()) == 1);
  CHECK(remove_persisted_key(key_dir, "acme"));
}

TEST_CASE("load_org_table: runtime key, then the config's key_file, then key_dir") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  dir.write("keys/all.key", "all-from-key-dir\n");
  dir.write("keys/cfgdir.key", "cfgdir-from-key-dir\n");
  dir.write("keys/dironly.key", "dironly-from-key-dir\n");
  dir.write("config/all.key", "all-from-config\n");
  dir.write("config/cfgdir.key", "cfgdir-from-config\n");
  cfg.organizations["all"].key_file = dir.path() / "config/all.key";
  cfg.organizations["cfgdir"].key_file = dir.path() / "config/cfgdir.key";
  cfg.organizations["nokey"] = {};
  std::map<std::string, runtime_key> added{{"all", runtime("all-from-runtime")},
                                           {"rtonly", runtime("rtonly-from-runtime")}};

  const auto table = load_org_table(cfg, added, ::geteuid());
  CHECK(table.size() == 5);
  CHECK(key_of(table, "all") == "all-from-runtime");
  CHECK(table.at("all")->source == key_source::runtime);
  CHECK(table.at("all")->config_key_file);  // still managed by config for PUT/DELETE
  CHECK(key_of(table, "cfgdir") == "cfgdir-from-config");
  CHECK(table.at("cfgdir")->source == key_source::config);
  CHECK(table.at("cfgdir")->config_key_file);
  CHECK(key_of(table, "dironly") == "dironly-from-key-dir");
  CHECK(table.at("dironly")->source == key_source::key_dir);
  CHECK_FALSE(table.at("dironly")->config_key_file);
  CHECK(key_of(table, "rtonly") == "rtonly-from-runtime");
  CHECK(table.at("rtonly")->source == key_source::runtime);

  const auto& nokey = *table.at("nokey");
  CHECK(nokey.key == nullptr);
  CHECK_FALSE(nokey.source.has_value());
  CHECK(nokey.key_problem.find("actoken key add nokey") != std::string::npos);

  // Without the runtime key, "all" falls back to its config key_file.
  const auto without_runtime = load_org_table(cfg, {}, ::geteuid());
  CHECK(key_of(without_runtime, "all") == "all-from-config");
}

TEST_CASE("no_key_hint: `actoken key add` only where the API may replace the key") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  dir.write("keys/loose.key", "loose-key\n", 0644);
  cfg.organizations["filed"].key_file = dir.path() / "config/filed.key";
  dir.write("config/filed.key", "filed-key\n", 0644);
  cfg.organizations["nokey"] = {};
  const auto table = load_org_table(cfg, {}, ::geteuid());
  // A refused key_dir file: replace it through the API.
  CHECK(no_key_hint(*table.at("loose")) == "add a key with `actoken key add loose`");
  // A refused config key_file: the API would answer key_managed_by_config.
  const auto filed = no_key_hint(*table.at("filed"));
  CHECK(filed.find("organizations.filed.key_file") != std::string::npos);
  CHECK(filed.find("actoken key add") == std::string::npos);
  // The problem already says what to do: nothing more.
  CHECK(no_key_hint(*table.at("nokey")).empty());
  // A command's key: its environment and a restart, never `actoken key add`.
  org_settings commanded;
  commanded.name = "vault";
  commanded.source = key_source::command;
  CHECK(no_key_hint(commanded) == key_command_hint);
}

TEST_CASE("load_org_table: a loose key file makes only that organization unusable") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  dir.write("keys/loose.key", "loose-key\n", 0644);
  dir.write("keys/good.key", "good-key\n");
  const auto table = load_org_table(cfg, {}, ::geteuid());
  REQUIRE(table.count("loose") == 1);
  CHECK(table.at("loose")->key == nullptr);
  CHECK(table.at("loose")->source == key_source::key_dir);
  CHECK(table.at("loose")->key_problem.find("0644") != std::string::npos);
  CHECK(table.at("loose")->key_problem.find("loose-key") == std::string::npos);
  CHECK(key_of(table, "good") == "good-key");
}

TEST_CASE("load_org_table: names come from the config, key_dir and runtime keys only") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  dir.write("keys/acme.key", "k\n");
  dir.write("keys/.hidden.key", "k\n");      // not a valid name
  dir.write("keys/readme.txt", "hello\n");   // not a key file
  dir.write("keys/acme.json", "{}\n");       // metadata only
  dir.write("keys/meta-only.json", "{}\n");  // metadata without a key: no org
  const auto table = load_org_table(cfg, {}, ::geteuid());
  std::set<std::string> names;
  for (const auto& [name, settings] : table) names.insert(name);
  CHECK(names == std::set<std::string>{"acme"});

  // A missing key_dir means no key files, not an error.
  cfg.key_dir = dir.path() / "absent";
  CHECK(load_org_table(cfg, {}, ::geteuid()).empty());
}

TEST_CASE("load_org_table: auth_url is checked by the one rule, and parsed, at load") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  cfg.auth_url = "https://auth.default.example";
  dir.write("keys/plain.key", "k\n");
  dir.write("keys/insecure.key", "k\n");
  dir.write("keys/insecure.json", R"({"auth_url": "http://auth.meta.example"})");
  dir.write("keys/custom.key", "k\n");
  dir.write("keys/custom.json", R"({"auth_url": "https://Auth.Meta.Example:8443/base/"})");
  const auto table = load_org_table(cfg, {}, ::geteuid());

  const auto& insecure = *table.at("insecure");
  CHECK(insecure.auth_url == "https://auth.default.example");
  REQUIRE(insecure.problems.size() == 1);
  CHECK(insecure.problems[0].find("auth_url is not an https:// URL; ignored") != std::string::npos);

  const auto& custom = *table.at("custom");
  CHECK(custom.auth_url == "https://Auth.Meta.Example:8443/base");
  REQUIRE(custom.server != nullptr);
  CHECK(custom.server->host == "auth.meta.example");
  CHECK(custom.server->port == 8443);
  CHECK(custom.server->path == "/base");
  REQUIRE(table.at("plain")->server != nullptr);
  CHECK(table.at("plain")->server->host == "auth.default.example");
}

TEST_CASE("load_org_table: <org>.json metadata, overridden by the config's entry") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  cfg.auth_url = "https://auth.default.example";
  cfg.scope = "openid";
  dir.write("keys/meta.key", "k\n");
  dir.write("keys/meta.json", R"({"auth_url": "https://auth.meta.example", "api_version": "v2"})");
  dir.write("keys/both.key", "k\n");
  dir.write("keys/both.json", R"({"auth_url": "https://auth.meta.example", "api_version": "v2"})");
  dir.write("keys/plain.key", "k\n");
  dir.write("keys/broken.key", "k\n");
  dir.write("keys/broken.json", "not json");
  auto& both = cfg.organizations["both"];
  both.auth_url = "https://auth.config.example";
  both.scope = "profile";
  both.sub_organizations.add("mobile", {"9b2f6d1e-0000-4000-8000-000000000001", std::nullopt});
  principal_set allow;
  allow.user_names = {"ci"};
  both.allow = allow;

  const auto table = load_org_table(cfg, {}, ::geteuid());
  CHECK(table.at("meta")->auth_url == "https://auth.meta.example");
  CHECK(table.at("meta")->api_version == upstream::api_version::v2);
  CHECK(table.at("meta")->scope == "openid");
  CHECK_FALSE(table.at("meta")->allow.has_value());

  CHECK(table.at("both")->auth_url == "https://auth.config.example");
  CHECK(table.at("both")->api_version == upstream::api_version::v2);  // config sets none
  CHECK(table.at("both")->scope == "profile");
  CHECK(table.at("both")->allow == allow);
  CHECK(table.at("both")->sub_organizations == both.sub_organizations);

  CHECK(table.at("plain")->auth_url == "https://auth.default.example");
  CHECK(table.at("plain")->api_version == upstream::api_version::v3);
  CHECK(table.at("broken")->auth_url == "https://auth.default.example");
  CHECK(key_of(table, "broken") == "k");

  // A runtime key carries its own settings instead of the file's.
  std::map<std::string, runtime_key> added{{"meta", runtime("rt", "https://auth.rt.example")}};
  const auto with_runtime = load_org_table(cfg, added, ::geteuid());
  CHECK(with_runtime.at("meta")->auth_url == "https://auth.rt.example");
  CHECK(with_runtime.at("meta")->api_version == upstream::api_version::v3);
}

TEST_CASE("persist_key writes a 0600 key file, and metadata when given, atomically") {
  scratch_dir dir;
  const auto key_dir = dir.path() / "new" / "keys";  // created on demand
  const platform::secure_buffer key("ac+/persisted==");
  persist_key(key_dir, "newco", key, std::nullopt, std::nullopt);
  CHECK(mode_of(dir.path() / "new") == 0700U);
  CHECK(mode_of(key_dir) == 0700U);
  CHECK(mode_of(key_dir / "newco.key") == 0600U);
  CHECK(slurp(key_dir / "newco.key") == "ac+/persisted==\n");
  CHECK(read_ok(key_dir / "newco.key") == "ac+/persisted==");
  CHECK_FALSE(std::filesystem::exists(key_dir / "newco.json"));

  // Replacing writes a new file and renames it over the old one.
  struct stat before {};
  REQUIRE(::stat((key_dir / "newco.key").c_str(), &before) == 0);
  REQUIRE(::chmod((key_dir / "newco.key").c_str(), 0644) == 0);
  persist_key(key_dir, "newco", platform::secure_buffer("second"), "https://auth.x.example",
              upstream::api_version::v1);
  struct stat after {};
  REQUIRE(::stat((key_dir / "newco.key").c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);
  CHECK(mode_of(key_dir / "newco.key") == 0600U);
  CHECK(slurp(key_dir / "newco.key") == "second\n");
  CHECK(mode_of(key_dir / "newco.json") == 0600U);
  const auto meta = slurp(key_dir / "newco.json");
  CHECK(meta.find("https://auth.x.example") != std::string::npos);
  CHECK(meta.find("\"v1\"") != std::string::npos);
  CHECK(meta.find("second") == std::string::npos);

  // Read back through the table: the metadata applies.
  config cfg;
  cfg.key_dir = key_dir;
  const auto table = load_org_table(cfg, {}, ::geteuid());
  CHECK(key_of(table, "newco") == "second");
  CHECK(table.at("newco")->auth_url == "https://auth.x.example");
  CHECK(table.at("newco")->api_version == upstream::api_version::v1);

  // Without settings, stale metadata goes.
  persist_key(key_dir, "newco", key, std::nullopt, std::nullopt);
  CHECK_FALSE(std::filesystem::exists(key_dir / "newco.json"));

  // No temporary files are left behind.
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(key_dir)) {
    files.insert(entry.path().filename().string());
  }
  CHECK(files == std::set<std::string>{"newco.key"});
}

TEST_CASE("remove_persisted_key removes the key and its metadata") {
  scratch_dir dir;
  const auto key_dir = dir.path() / "keys";
  persist_key(key_dir, "gone", platform::secure_buffer("k"), "https://auth.x.example",
              std::nullopt);
  REQUIRE(std::filesystem::exists(key_dir / "gone.json"));
  CHECK(remove_persisted_key(key_dir, "gone"));
  CHECK_FALSE(std::filesystem::exists(key_dir / "gone.key"));
  CHECK_FALSE(std::filesystem::exists(key_dir / "gone.json"));
  CHECK_FALSE(remove_persisted_key(key_dir, "gone"));
}

TEST_CASE("same_exchange_inputs compares key bytes, auth server, API version and scope") {
  org_settings a;
  a.key = std::make_shared<const platform::secure_buffer>("k1");
  a.auth_url = "https://auth.example";
  a.scope = "openid";
  org_settings b = a;
  b.key = std::make_shared<const platform::secure_buffer>("k1");  // equal bytes, other buffer
  CHECK(a.same_exchange_inputs(b));
  b.allow = principal_set{};  // who may use it does not matter
  CHECK(a.same_exchange_inputs(b));
  auto c = a;
  c.key = std::make_shared<const platform::secure_buffer>("k2");
  CHECK_FALSE(a.same_exchange_inputs(c));
  c = a;
  c.auth_url = "https://auth.other.example";
  CHECK_FALSE(a.same_exchange_inputs(c));
  c = a;
  c.api_version = upstream::api_version::v2;
  CHECK_FALSE(a.same_exchange_inputs(c));
  c = a;
  c.scope = "";
  CHECK_FALSE(a.same_exchange_inputs(c));
}

TEST_CASE("load_org_table: a key_command comes after a runtime key, before key_file and key_dir") {
  scratch_dir dir;
  config cfg;
  cfg.key_dir = dir.path() / "keys";
  dir.write("keys/acme.key", "from-key-dir\n");
  const auto file = dir.write("acme-file.key", "from-key-file\n");
  cfg.organizations["acme"].key_file = file;
  cfg.organizations["acme"].key_command = std::vector<std::string>{"pass", "show", "acme"};

  std::map<std::string, command_key> commands;
  commands["acme"].key = std::make_shared<const platform::secure_buffer>("from-command");
  auto table = load_org_table(cfg, {}, ::geteuid(), commands);
  CHECK(key_of(table, "acme") == "from-command");
  CHECK(table["acme"]->source == key_source::command);
  CHECK(table["acme"]->config_key_file);  // managed by the config: 409 on PUT and DELETE
  CHECK(to_string(key_source::command) == "command");

  std::map<std::string, runtime_key> added{{"acme", runtime("from-runtime")}};
  table = load_org_table(cfg, added, ::geteuid(), commands);
  CHECK(key_of(table, "acme") == "from-runtime");

  // A failed command: no key (never the key_file's), and the reason as a problem.
  commands["acme"] = {nullptr, "key_command pass failed (exit status 1): not in the store", {}};
  table = load_org_table(cfg, {}, ::geteuid(), commands);
  CHECK(table["acme"]->key == nullptr);
  CHECK(table["acme"]->source == key_source::command);
  CHECK(table["acme"]->key_problem == "key_command pass failed (exit status 1): not in the store");
  CHECK(table["acme"]->problems ==
        std::vector<std::string>{"key_command pass failed (exit status 1): not in the store"});

  // Not run yet: no key, said so.
  table = load_org_table(cfg, {}, ::geteuid());
  CHECK(table["acme"]->key == nullptr);
  CHECK(table["acme"]->key_problem == "its key_command has not run");
}
