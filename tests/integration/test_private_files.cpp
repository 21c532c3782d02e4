// Private files end to end (SPEC §2 "Private files", §6 `cache_file`): what a
// local user can plant in key_dir or at the cache file's path — a FIFO, a link
// to /dev/zero, a file of their own, a folder they can write — neither stalls
// the daemon, nor moves where a key is sent, nor gets overwritten; Kubernetes
// Secret volumes still work. The daemon runs as root; "another user" is nobody.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_files.hpp"

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

namespace {

constexpr uid_t nobody = 65534;
constexpr gid_t nogroup = 65534;

world_options not_started(json config = json::object()) {
  world_options options;
  options.config = std::move(config);
  options.start_daemon = false;
  return options;
}

// /v1/health within one second: the daemon's one thread is not stuck.
void check_health_within_a_second(const daemon_world& w) {
  http_reply reply;
  REQUIRE_NOTHROW(reply = unix_request(w.socket(), "GET", "/v1/health", "", 1000ms));
  CHECK(reply.status == 200);
}

bool any_contains(const json& list, const std::string& part) {
  if (!list.is_array()) return false;
  for (const auto& item : list) {
    if (item.is_string() && item.get<std::string>().find(part) != std::string::npos) return true;
  }
  return false;
}

void make_fifo(const std::filesystem::path& path) { REQUIRE(::mkfifo(path.c_str(), 0600) == 0); }

void give_to_nobody(const std::filesystem::path& path) {
  REQUIRE_MESSAGE(::chown(path.c_str(), nobody, nogroup) == 0, "the tests run as root");
}

struct file_stamp {
  std::string bytes;
  timespec mtime{};
  ino_t inode = 0;
};

file_stamp stamp_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return {slurp(path), info.st_mtim, info.st_ino};
}

bool unchanged(const file_stamp& before, const std::filesystem::path& path) {
  const auto after = stamp_of(path);
  return after.bytes == before.bytes && after.inode == before.inode &&
         after.mtime.tv_sec == before.mtime.tv_sec && after.mtime.tv_nsec == before.mtime.tv_nsec;
}

}  // namespace

TEST_CASE(
    "a FIFO key file and a FIFO .json leave /v1/health answering: start, reload, key change") {
  daemon_world w(not_started());
  make_fifo(w.dir.path() / "keys" / "fifo.key");
  make_fifo(w.dir.path() / "keys" / "acme.json");  // beside acme's good key: read too
  w.start();  // today's daemon blocks here, in open(), and never answers
  check_health_within_a_second(w);

  const auto fifo = w.daemon->get("/v1/token?org=fifo");
  CHECK(fifo.status == 409);
  CHECK(fifo.json()["error"] == "no_key");
  CHECK(fifo.json()["message"].get<std::string>().find("fifo.key is a FIFO") != std::string::npos);
  CHECK(any_contains(w.org_view("fifo")["problems"], "fifo.key is a FIFO"));
  CHECK(any_contains(w.org_view("acme")["problems"], "acme.json is a FIFO; ignored"));
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);

  w.daemon->reload();
  check_health_within_a_second(w);

  // A key change re-reads every key file.
  const auto other_key = awkward_key();
  const auto put = unix_request(w.socket(), "PUT", "/v1/orgs/other/key",
                                json{{"key", other_key}, {"persist", true}}.dump(), 1000ms);
  CHECK(put.status == 200);
  check_health_within_a_second(w);
  CHECK(w.daemon->log().find(other_key) == std::string::npos);
}

TEST_CASE("another user's <org>.json does not move the exchange; /v1/orgs says why") {
  daemon_world w(not_started());
  // A second auth server the planted file points to, trusted like the first.
  stand_in::server decoy({.pki = w.upstream.pki()});
  decoy.add_account(w.key, acme_org_id);
  decoy.start();
  const auto planted = w.dir.write("keys/acme.json", json{{"auth_url", decoy.url()}}.dump(), 0600);
  give_to_nobody(planted);
  w.start();

  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 200);
  CHECK(w.upstream.exchanges() == 1);
  CHECK(decoy.exchanges() == 0);  // the key never went there

  const auto acme = w.org_view("acme");
  CHECK(acme["auth_url"] == w.upstream.url());
  CHECK(any_contains(acme["problems"], planted.string() +
                                           " is owned by uid 65534, neither the daemon's user "
                                           "nor root; ignored"));
  CHECK(w.daemon->log().find(planted.string() + " is owned by uid 65534") != std::string::npos);
}

TEST_CASE("a .json linked to /dev/zero is refused at once, and the daemon serves") {
  daemon_world w(not_started());
  std::filesystem::create_symlink("/dev/zero", w.dir.path() / "keys" / "acme.json");
  w.start();  // today's daemon reads /dev/zero until memory runs out
  check_health_within_a_second(w);
  CHECK(
      any_contains(w.org_view("acme")["problems"], "(a link to /dev/zero) is a character device"));
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
}

// A Secret volume exactly as the kubelet's AtomicWriter lays it out, mounted
// as key_dir by the DaemonSet in docs/operations.md ("Many hosts"): a
// root-owned 1777 tmpfs folder; the files in a timestamped folder
// `..2026_11_30_10_00_00.<digits>` (mode 0755) with `defaultMode` 0400,
// owned by root; `..data` a link to that folder; `acme.key -> ..data/acme.key`.
// The daemon runs as root, as the recipe's container does (runAsUser 0, no
// fsGroup): see the next test for why not as 990 with fsGroup.
struct secret_volume {
  std::filesystem::path path;

  // Writes `files` (name -> contents) as the kubelet writes one version of the Secret.
  void write_version(const temp_dir& dir, const std::string& stamp,
                     const std::map<std::string, std::string>& files, unsigned mode) {
    const auto relative = std::filesystem::relative(path, dir.path()).string();
    for (const auto& [name, text] : files)
      dir.write(relative + "/" + stamp + "/" + name, text, mode);
    REQUIRE(::chmod((path / stamp).c_str(), 0755) == 0);
    // The kubelet makes `..data_tmp` and renames it over `..data`: one atomic switch.
    std::filesystem::create_symlink(stamp, path / "..data_tmp");
    std::filesystem::rename(path / "..data_tmp", path / "..data");
    for (const auto& [name, text] : files) {
      if (!std::filesystem::is_symlink(path / name)) {
        std::filesystem::create_symlink("..data/" + name, path / name);
      }
    }
  }
};

secret_volume make_secret_volume(const temp_dir& dir) {
  secret_volume volume{dir.path() / "secret"};
  std::filesystem::create_directories(volume.path);
  REQUIRE(::chmod(volume.path.c_str(), 01777) == 0);
  return volume;
}

TEST_CASE(
    "a Kubernetes Secret volume as key_dir, as the DaemonSet recipe mounts it, and its "
    "update") {
  world_options options = not_started();
  options.acme_key = false;
  daemon_world w(options);
  w.upstream.add_account(w.key, acme_org_id);
  auto volume = make_secret_volume(w.dir);
  volume.write_version(w.dir, "..2026_11_30_10_00_00.123456789", {{"acme.key", w.key + "\n"}},
                       0400);
  struct stat info {};
  REQUIRE(::lstat((volume.path / "acme.key").c_str(), &info) == 0);
  REQUIRE(S_ISLNK(info.st_mode));
  w.config["key_dir"] = volume.path.string();
  // As the recipe's ConfigMap: build pods reach the socket, `allow` says who may use acme.
  w.config["socket_mode"] = "0666";
  w.config["allow"] = {{"groups", {0, 2000}}};
  w.start();

  const auto reply = w.daemon->get("/v1/token?org=acme");
  REQUIRE(reply.status == 200);
  CHECK(w.upstream.exchanges_for(w.key) == 1);
  const auto acme = w.org_view("acme");
  CHECK(acme["key_source"] == "key_dir");
  CHECK(acme["problems"] == json::array());

  // The Secret is updated: a new timestamped folder, `..data` switched to it,
  // the old one removed (the kubelet's order); a reload reads the new key.
  const auto rotated = std::string("rotated-") + awkward_key();
  w.upstream.add_account(rotated, acme_org_id);
  volume.write_version(w.dir, "..2026_11_30_11_00_00.987654321", {{"acme.key", rotated + "\n"}},
                       0400);
  std::filesystem::remove_all(volume.path / "..2026_11_30_10_00_00.123456789");
  w.daemon->reload();
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.upstream.exchanges_for(rotated) == 1);
  CHECK(w.org_view("acme")["problems"] == json::array());
}

TEST_CASE("a Secret volume with fsGroup: the kubelet adds group read (0440), so it is refused") {
  // With `fsGroup` the kubelet's SetVolumeOwnership chowns every file to the
  // group and ORs 0440 into its mode, whatever defaultMode says: a key any
  // process of that group may read. docs/operations.md's DaemonSet therefore
  // sets no fsGroup and runs the daemon as root (the files' owner).
  world_options options = not_started();
  options.acme_key = false;
  daemon_world w(options);
  w.upstream.add_account(w.key, acme_org_id);
  auto volume = make_secret_volume(w.dir);
  const std::string stamp = "..2026_11_30_10_00_00.123456789";
  volume.write_version(w.dir, stamp, {{"acme.key", w.key + "\n"}}, 0440);
  REQUIRE(::chown((volume.path / stamp / "acme.key").c_str(), 0, 990) == 0);
  w.config["key_dir"] = volume.path.string();
  w.start();

  const auto reply = w.daemon->get("/v1/token?org=acme");
  CHECK(reply.status == 409);
  CHECK(any_contains(w.org_view("acme")["problems"], "has mode 0440: group- or world-"));
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("a symbolic link is not followed where another user could have placed it") {
  daemon_world w(not_started());
  const auto real = w.dir.write("real/acme.key", w.key + "\n");
  const auto open = w.dir.path() / "open";
  std::filesystem::create_directories(open);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  std::filesystem::create_symlink(real, open / "acme.key");
  const auto sticky = w.dir.path() / "sticky";
  std::filesystem::create_directories(sticky);
  REQUIRE(::chmod(sticky.c_str(), 01777) == 0);
  std::filesystem::create_symlink(real, sticky / "beta.key");
  REQUIRE(::lchown((sticky / "beta.key").c_str(), nobody, nogroup) == 0);
  w.config["organizations"] = {{"acme", {{"key_file", (open / "acme.key").string()}}},
                               {"beta", {{"key_file", (sticky / "beta.key").string()}}}};
  w.start();

  const auto acme = w.daemon->get("/v1/token?org=acme");
  CHECK(acme.status == 409);
  CHECK(acme.json()["message"].get<std::string>().find(
            "is a symbolic link in a folder others can write") != std::string::npos);
  CHECK(any_contains(w.org_view("acme")["problems"], "in a folder others can write"));
  const auto beta = w.daemon->get("/v1/token?org=beta");
  CHECK(beta.status == 409);
  CHECK(beta.json()["message"].get<std::string>().find("is a symbolic link owned by uid 65534") !=
        std::string::npos);
  CHECK(w.upstream.exchanges() == 0);
}

TEST_CASE("a key_dir owned by another user, or writable by others, is refused whole") {
  daemon_world w(not_started({{"organizations", {{"acme", json::object()}}}}));
  const auto keys = w.dir.path() / "keys";
  w.dir.write("keys/beta.key", awkward_key() + "\n");
  give_to_nobody(keys);
  w.start();

  const auto check_refused = [&w, &keys](const std::string& reason) {
    CAPTURE(reason);
    const auto reply = w.daemon->get("/v1/token?org=acme");
    CHECK(reply.status == 409);
    CHECK(reply.json()["error"] == "no_key");
    const auto message = reply.json()["message"].get<std::string>();
    CHECK(message.find("key_dir " + keys.string()) != std::string::npos);
    CHECK(message.find(reason) != std::string::npos);
    CHECK(message.find(w.key) == std::string::npos);
    CHECK(any_contains(w.org_view("acme")["problems"], reason));
    CHECK(w.daemon->get("/v1/token?org=beta").status == 404);  // no organization from it
    CHECK(w.daemon->get("/v1/status")
              .json()["last_reload"]["message"]
              .get<std::string>()
              .find(reason) != std::string::npos);
    CHECK(w.upstream.exchanges() == 0);
  };
  check_refused("is owned by uid 65534, neither the daemon's user nor root");
  // root checking a system config cannot know the daemon's user (the unit's
  // `actoken` owns the default key_dir): --check-config judges the mode only.
  CHECK(run_process({actokend_path(), "--system", "--check-config", "--config",
                     w.daemon->config_path().string()})
            .exit_code == 0);

  // No key is written into it either.
  const auto stored = unix_request(w.socket(), "PUT", "/v1/orgs/gamma/key",
                                   json{{"key", awkward_key()}, {"persist", true}}.dump());
  CHECK(stored.status == 500);
  CHECK_FALSE(std::filesystem::exists(keys / "gamma.key"));

  REQUIRE(::chown(keys.c_str(), 0, 0) == 0);
  REQUIRE(::chmod(keys.c_str(), 0777) == 0);
  w.daemon->reload();
  check_refused("has mode 0777: writable by group or others without the sticky bit");

  const auto checked = run_process({actokend_path(), "--system", "--check-config", "--config",
                                    w.daemon->config_path().string()});
  CHECK(checked.exit_code == 1);
  CHECK(checked.err.find(": key_dir: key_dir " + keys.string() + " has mode 0777") !=
        std::string::npos);

  // (Each reload's message differs from the last: the harness sees each one.)
  REQUIRE(::chmod(keys.c_str(), 0755) == 0);
  w.daemon->reload();
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.daemon->get("/v1/status").json()["last_reload"]["message"] == "reloaded");
}

TEST_CASE("a cache file that is not the daemon's to replace is never overwritten") {
  daemon_world w(not_started());
  const auto cache = w.dir.path() / "tokens.cache";
  w.config["cache_file"] = cache.string();
  std::string reason;
  SUBCASE("owned by another user") {
    give_to_nobody(w.dir.write("tokens.cache", "someone else's file\n", 0600));
    reason = "is owned by uid 65534, neither the daemon's user nor root";
  }
  SUBCASE("group- or world-readable") {
    w.dir.write("tokens.cache", "a file of root's, readable by all\n", 0644);
    reason = "has mode 0644: group- or world-readable";
  }
  const auto before = stamp_of(cache);
  w.start();

  const auto status = w.daemon->get("/v1/status").json()["cache_file"];
  CHECK(status["path"] == cache.string());
  CHECK(status["state"] == "off");
  CHECK(status["message"].get<std::string>().find("cache file " + cache.string() + " " + reason) !=
        std::string::npos);

  // A token is cached, then the daemon stops, which writes the cache file.
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  CHECK(unchanged(before, cache));
  CHECK(slurp(cache).find("entries") == std::string::npos);
}

TEST_CASE("a refused cache file stays off until a reload, which checks it again") {
  daemon_world w(not_started());
  const auto cache = w.dir.path() / "tokens.cache";
  w.config["cache_file"] = cache.string();
  w.dir.write("tokens.cache", "{}", 0644);
  w.start();
  CHECK(w.daemon->get("/v1/status").json()["cache_file"]["state"] == "off");

  // Fixed, but not checked again yet: still off.
  REQUIRE(::chmod(cache.c_str(), 0600) == 0);
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  CHECK(w.daemon->get("/v1/status").json()["cache_file"]["state"] == "off");
  w.daemon->reload();
  const auto status = w.daemon->get("/v1/status").json()["cache_file"];
  CHECK(status["state"] == "ok");
  CHECK(status["message"] == "");
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  CHECK(slurp(cache).find("entries") != std::string::npos);  // written now

  // The other way: accepted at start, refused since; a reload turns it off.
  w.start();
  CHECK(w.daemon->get("/v1/status").json()["cache_file"]["state"] == "ok");
  REQUIRE(::chmod(cache.c_str(), 0644) == 0);
  w.daemon->reload();
  CHECK(w.daemon->get("/v1/status").json()["cache_file"]["state"] == "off");
  const auto before = stamp_of(cache);
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  CHECK(unchanged(before, cache));
}

// SPEC §6: the cache file's folder is reached by the walk; a folder anyone
// may write (where anyone could plant the file, or swap it between writes) is
// refused: nothing is read from it, nothing created there, and /v1/status and
// --check-config say why. (It used to be created there without a word.)
TEST_CASE("a cache file in a 0777 folder is refused: off, with the reason, nothing created") {
  daemon_world w(not_started());
  const auto open = w.dir.path() / "open";
  std::filesystem::create_directory(open);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  const auto cache = open / "tokens.cache";
  w.config["cache_file"] = cache.string();
  w.start();
  const auto reason = open.string() + " is writable by others (mode 0777)";
  const auto status = w.daemon->get("/v1/status").json()["cache_file"];
  CHECK(status["path"] == cache.string());
  CHECK(status["state"] == "off");
  CHECK_MESSAGE(status["message"].get<std::string>().find("cache file " + cache.string() + ": " +
                                                          reason) != std::string::npos,
                status["message"]);
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  REQUIRE(w.daemon->stop(SIGTERM) == 0);
  CHECK(std::filesystem::is_empty(open));

  const auto check = run_process(
      {actokend_path(), "--config", (w.dir.path() / "actokend.json").string(), "--check-config"});
  CHECK(check.exit_code == 1);
  CHECK_MESSAGE(check.err.find(": cache_file: cache file " + cache.string() + ": " + reason) !=
                    std::string::npos,
                check.err);
}

TEST_CASE("/v1/status cache_file: null without one, ok, or error when it cannot be written") {
  {
    daemon_world w;
    CHECK(w.daemon->get("/v1/status").json().at("cache_file").is_null());
  }
  daemon_world w(not_started());
  const auto cache = w.dir.path() / "no-such-folder" / "tokens.cache";
  w.config["cache_file"] = cache.string();
  w.start();
  auto status = w.daemon->get("/v1/status").json()["cache_file"];
  CHECK(status["path"] == cache.string());
  CHECK(status["state"] == "ok");
  REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (status["state"] == "ok" && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
    status = w.daemon->get("/v1/status").json()["cache_file"];
  }
  CHECK(status["state"] == "error");
  CHECK(status["message"].get<std::string>().find(cache.string()) != std::string::npos);
}

TEST_CASE("temporary files a killed daemon left beside the cache file are removed at start") {
  daemon_world w(not_started());
  const auto cache = w.dir.path() / "tokens.cache";
  w.config["cache_file"] = cache.string();
  w.dir.write(".tokens.cache.tmp28470519361852037463", "left by SIGKILL");
  w.dir.write(".tokens.cache.tmp7", "left by SIGKILL");
  w.dir.write(".tokens.cache.tmp", "not our naming");
  w.dir.write(".tokens.cache.tmp12ab", "not our naming");
  w.dir.write(".other.cache.tmp123", "not beside our file");
  w.dir.write("unrelated.txt", "left alone");
  give_to_nobody(w.dir.write(".tokens.cache.tmp999", "not ours"));
  const auto target = w.dir.write("target", "a link's target");
  std::filesystem::create_symlink(target, w.dir.path() / ".tokens.cache.tmp555");
  w.start();

  std::set<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(w.dir.path())) {
    const auto name = entry.path().filename().string();
    if (name.find("tmp") != std::string::npos || name == "unrelated.txt") left.insert(name);
  }
  CHECK(left == std::set<std::string>{".tokens.cache.tmp", ".tokens.cache.tmp12ab",
                                      ".other.cache.tmp123", "unrelated.txt",
                                      ".tokens.cache.tmp999", ".tokens.cache.tmp555"});
  CHECK(slurp(target) == "a link's target");
  CHECK(w.daemon->log().find("removed 2 temporary files") != std::string::npos);
}

TEST_CASE("temporary files a killed daemon left in key_dir, a key inside, are removed at start") {
  daemon_world w(not_started());
  const auto keys = w.dir.path() / "keys";
  const auto write_key_temp = [&](const std::string& name) {
    const auto path = keys / name;
    std::ofstream(path) << w.key << '\n';
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path;
  };
  write_key_temp(".acme.key.tmp28470519361852037463");
  write_key_temp(".beta.json.tmp7");
  write_key_temp(".acme.key.tmp");                     // not our naming
  write_key_temp(".-bad.key.tmp12");                   // no organization has that name
  write_key_temp(".notes.txt.tmp12");                  // not a key or settings file
  give_to_nobody(write_key_temp(".acme.key.tmp999"));  // not ours
  w.start();

  std::set<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(keys)) {
    left.insert(entry.path().filename().string());
  }
  CHECK(left == std::set<std::string>{"acme.key", ".acme.key.tmp", ".-bad.key.tmp12",
                                      ".notes.txt.tmp12", ".acme.key.tmp999"});
  CHECK(w.daemon->log().find("removed 2 temporary files left in") != std::string::npos);
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
}
