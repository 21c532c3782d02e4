// Sinks (SPEC §6 "Sinks") against the real daemon and the stand-in: each
// format's file, its mode and group, a token replaced before it expires with
// no caller asking, folder checks, a link at the path replaced and never
// followed, files deleted when the key goes, and a sink added by a reload.
// Tokens live 8 s (refresh_before 3): every wait below is derived from that.
#include "common/unique_fd.hpp"
#include "tests/integration/integration_test.hpp"
#include "tests/integration/peers.hpp"
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace {

constexpr auto lifetime = 8s;
// A token is refreshed once min(refresh_before, half its lifetime) is left,
// give or take 10%: about 5 s after it was obtained. Two lifetimes is generous.
constexpr auto generous = 2 * lifetime;

struct stat stat_of(const std::filesystem::path& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  return info;
}

bool entry_exists(const std::filesystem::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

// Polls `done` until it holds or `within` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds within) {
  const auto until = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

std::chrono::system_clock::time_point parse_rfc3339(const std::string& text) {
  std::tm tm{};
  std::istringstream in(text);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%SZ");
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

// Reads an env file the way `docker run --env-file` and systemd's
// EnvironmentFile= read a plain line: KEY=VALUE, the value as is.
std::map<std::string, std::string> env_file(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    REQUIRE(eq != std::string::npos);
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// A stand-in handing out 8-second tokens, and a daemon with sinks in
// DIR/sinks (0755, root's), configured by each test before it starts.
struct sink_world : daemon_world {
  sink_world() : daemon_world(options()) {
    std::filesystem::create_directory(folder());
    ::chmod(folder().c_str(), 0755);
    config["min_ttl"] = 1;
    config["refresh_before"] = 3;
    config["organizations"]["acme"]["sub_organizations"]["mobile"] = acme_org_id;
  }
  static world_options options() {
    world_options o;
    o.behaviour.token_lifetime = lifetime;
    o.start_daemon = false;
    return o;
  }
  std::filesystem::path folder() const { return dir.path() / "sinks"; }
  void add_sink(json sink) { config["organizations"]["acme"]["sinks"].push_back(std::move(sink)); }

  // The acme sinks of /v1/orgs.
  json sinks() const { return org_view("acme")["sinks"]; }
  // Waits until every sink of acme is in `state`.
  bool all_sinks(const std::string& state) const {
    return eventually(
        [&] {
          const auto list = sinks();
          return !list.empty() && std::all_of(list.begin(), list.end(),
                                              [&](const json& s) { return s["state"] == state; });
        },
        generous);
  }
  // Rewrites the config file and reloads; waits until /v1/status shows it.
  void reload_with_config() {
    dir.write("actokend.json", config.dump(2));
    daemon->reload();
  }
};

}  // namespace

TEST_CASE("each format holds the token as its readers expect, with the mode and group asked") {
  sink_world w;
  // The Appcircle CLI's own file, on an environment other than "default".
  const auto appcircle = w.folder() / "config.json";
  w.dir.write("sinks/config.json", R"({"current":"work","envs":{
      "default":{"API_HOSTNAME":"https://api.appcircle.io","AUTH_HOSTNAME":"https://auth.appcircle.io","AC_ACCESS_TOKEN":"old-default"},
      "work":{"API_HOSTNAME":"https://api.example.com","AUTH_HOSTNAME":"https://auth.example.com","AC_ACCESS_TOKEN":"old-work","extra":1}},
      "telemetry":false})");
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.folder() / "token.json").string()}, {"format", "json"}});
  w.add_sink({{"path", (w.folder() / "token.env").string()},
              {"format", "env"},
              {"mode", "0640"},
              {"group", "adm"}});
  w.add_sink({{"path", appcircle.string()}, {"format", "appcircle-cli"}});
  w.add_sink(
      {{"path", (w.folder() / "mobile").string()}, {"format", "token"}, {"sub_org", "mobile"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));

  const auto file_token = slurp(w.folder() / "token");
  REQUIRE(file_token.size() > 1);
  CHECK(file_token.back() == '\n');
  const auto token = file_token.substr(0, file_token.size() - 1);
  CHECK(token.find('\n') == std::string::npos);

  // json: the /v1/token object.
  const auto object = json::parse(slurp(w.folder() / "token.json"));
  CHECK(object["org"] == "acme");
  CHECK(object["sub_org"].is_null());
  CHECK(object["access_token"] == token);
  CHECK(object["token_type"] == "Bearer");
  CHECK(object["expires_in"].get<int>() > 0);
  CHECK(object["expires_in"].get<int>() <= lifetime.count());
  CHECK(object.contains("expires_at"));
  CHECK(object.contains("obtained_at"));

  // env: one KEY=VALUE line, nothing to unquote; 0640, group adm (gid 4).
  const auto env_text = slurp(w.folder() / "token.env");
  CHECK(env_text == "AC_ACCESS_TOKEN=" + token + "\n");
  CHECK(env_file(env_text) == std::map<std::string, std::string>{{"AC_ACCESS_TOKEN", token}});
  CHECK((stat_of(w.folder() / "token.env").st_mode & 07777) == 0640);
  CHECK(stat_of(w.folder() / "token.env").st_gid == 4);
  CHECK((stat_of(w.folder() / "token").st_mode & 07777) == 0600);

  // appcircle-cli: only envs[current].AC_ACCESS_TOKEN changed.
  const auto store = json::parse(slurp(appcircle));
  CHECK(store["current"] == "work");
  CHECK(store["telemetry"] == false);
  CHECK(store["envs"]["work"]["AC_ACCESS_TOKEN"] == token);
  CHECK(store["envs"]["work"]["API_HOSTNAME"] == "https://api.example.com");
  CHECK(store["envs"]["work"]["AUTH_HOSTNAME"] == "https://auth.example.com");
  CHECK(store["envs"]["work"]["extra"] == 1);
  CHECK(store["envs"]["default"]["AC_ACCESS_TOKEN"] == "old-default");
  CHECK((stat_of(appcircle).st_mode & 07777) == 0600);

  // The sub-organization's sink holds a token of its own cache key.
  const auto mobile = slurp(w.folder() / "mobile");
  CHECK(mobile.size() > 1);
  CHECK(mobile != file_token);

  // /v1/orgs: path, format, state, message, written_at.
  for (const auto& sink : w.sinks()) {
    CHECK(sink["state"] == "ok");
    CHECK(sink["message"] == "");
    CHECK(sink["written_at"].is_string());
    CHECK(sink["format"].is_string());
  }
  // The same token the socket serves; no temporary file left.
  CHECK(w.daemon->get("/v1/token?org=acme").json()["access_token"] == token);
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(w.folder())) {
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);
    ++entries;
  }
  CHECK(entries == 5);
  // Never a token in the log: only fingerprints.
  const auto log = w.daemon->log();
  CHECK(log.find("sink " + (w.folder() / "token").string()) != std::string::npos);
  CHECK(log.find(token) == std::string::npos);
  CHECK(log.find(mobile.substr(0, mobile.size() - 1)) == std::string::npos);
}

TEST_CASE("the file gets a new token before the old one expires, with no caller asking") {
  sink_world w;
  w.add_sink({{"path", (w.folder() / "token.json").string()}, {"format", "json"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  std::set<std::string> seen;
  for (int round = 0; round < 2; ++round) {
    const auto before = json::parse(slurp(w.folder() / "token.json"));
    const auto expires_at = parse_rfc3339(before["expires_at"].get<std::string>());
    seen.insert(before["access_token"].get<std::string>());
    std::string after;
    // The file is replaced, never rewritten in place: a reader sees the old or the new whole.
    REQUIRE(eventually(
        [&] {
          const auto text = slurp(w.folder() / "token.json");
          if (text.empty()) return false;
          after = json::parse(text)["access_token"].get<std::string>();
          return !seen.contains(after);
        },
        generous));
    // Seen while the old token had time left (expires_at has whole seconds: 1 s of slack).
    CHECK(std::chrono::system_clock::now() < expires_at + 1s);
    seen.insert(after);
  }
  // Fingerprints in the log, never a token.
  const auto log = w.daemon->log();
  for (const auto& token : seen) CHECK(log.find(token) == std::string::npos);
  // Nobody asked /v1/token: every exchange was the sink's.
  CHECK(w.upstream.successful_exchanges() >= 3);
  const auto metrics = w.daemon->get("/metrics").body;
  CHECK(metrics.find("actoken_cache_hits_total 0") != std::string::npos);
  CHECK(metrics.find("actoken_cache_misses_total 0") != std::string::npos);
}

TEST_CASE("a folder others may write is refused: state error, nothing written, the rest served") {
  sink_world w;
  std::filesystem::create_directory(w.dir.path() / "open");
  ::chmod((w.dir.path() / "open").c_str(), 0777);
  std::filesystem::create_directory(w.dir.path() / "shared");
  ::chmod((w.dir.path() / "shared").c_str(), 0770);
  w.add_sink({{"path", (w.dir.path() / "open" / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.dir.path() / "shared" / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.dir.path() / "missing" / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.folder() / "grouped").string()},
              {"format", "token"},
              {"group", "no-such-group-of-actoken"}});
  w.start();
  REQUIRE(eventually([&] { return entry_exists(w.folder() / "token"); }, generous));
  REQUIRE(eventually([&] { return w.sinks()[0]["state"] == "error"; }, generous));
  const auto sinks = w.sinks();
  CHECK(sinks[0]["message"] ==
        (w.dir.path() / "open").string() + " is writable by others (mode 0777)");
  CHECK(sinks[1]["state"] == "error");
  CHECK(sinks[1]["message"] ==
        (w.dir.path() / "shared").string() + " is writable by its group (mode 0770)");
  CHECK(sinks[2]["state"] == "error");
  CHECK(sinks[2]["message"].get<std::string>().find("does not exist") != std::string::npos);
  CHECK(sinks[3]["state"] == "ok");
  CHECK(sinks[4]["state"] == "error");
  CHECK(sinks[4]["message"] == "no group named no-such-group-of-actoken; the sink is not written");
  CHECK_FALSE(entry_exists(w.folder() / "grouped"));
  CHECK(std::filesystem::is_empty(w.dir.path() / "open"));
  CHECK(std::filesystem::is_empty(w.dir.path() / "shared"));
  CHECK(w.daemon->get("/v1/token?org=acme").status == 200);
  const auto metrics = w.daemon->get("/metrics").body;
  // Counted once per token for each of the three (more if a refresh came meanwhile).
  const std::string sample = "\nactoken_sink_failures_total ";
  const auto at = metrics.find(sample);
  REQUIRE(at != std::string::npos);
  CHECK(std::stoi(metrics.substr(at + sample.size())) >= 3);
}

TEST_CASE("a symbolic link at the path is replaced, never followed") {
  sink_world w;
  std::filesystem::create_directory(w.dir.path() / "elsewhere");
  const auto victim = w.dir.write("elsewhere/victim", "precious\n", 0644);
  const auto link = w.folder() / "token";
  std::filesystem::create_symlink(victim, link);
  const auto appcircle_link = w.folder() / "config.json";
  std::filesystem::create_symlink(victim, appcircle_link);
  w.add_sink({{"path", link.string()}, {"format", "token"}});
  w.add_sink({{"path", appcircle_link.string()}, {"format", "appcircle-cli"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  CHECK(slurp(victim) == "precious\n");
  CHECK((stat_of(victim).st_mode & 07777) == 0644);
  CHECK(S_ISREG(stat_of(link).st_mode));
  CHECK(S_ISREG(stat_of(appcircle_link).st_mode));
  // The link was not read through: the new store holds Appcircle's defaults.
  const auto store = json::parse(slurp(appcircle_link));
  CHECK(store["current"] == "default");
  CHECK(store["envs"]["default"]["AUTH_HOSTNAME"] == "https://auth.appcircle.io");
}

TEST_CASE("removing the key deletes the files; an appcircle-cli file keeps all but its token") {
  sink_world w;
  const auto appcircle = w.folder() / "config.json";
  w.dir.write("sinks/config.json",
              R"({"current":"default","envs":{"default":{"AC_ACCESS_TOKEN":"x","mine":true}}})");
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.folder() / "token.env").string()}, {"format", "env"}});
  w.add_sink({{"path", appcircle.string()}, {"format", "appcircle-cli"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  const auto reply = unix_request(w.socket(), "DELETE", "/v1/orgs/acme/key");
  REQUIRE(reply.status == 200);
  // At once, not at the next look: the DELETE's answer comes after.
  CHECK_FALSE(entry_exists(w.folder() / "token"));
  CHECK_FALSE(entry_exists(w.folder() / "token.env"));
  const auto store = json::parse(slurp(appcircle));
  CHECK(store["envs"]["default"]["AC_ACCESS_TOKEN"] == "");
  CHECK(store["envs"]["default"]["mine"] == true);
  for (const auto& sink : w.sinks()) {
    CHECK(sink["state"] == "error");
    CHECK(sink["written_at"].is_null());
  }
  // A key again: the sinks are written again, without a caller.
  const auto put =
      unix_request(w.socket(), "PUT", "/v1/orgs/acme/key", json{{"key", w.key}}.dump());
  REQUIRE(put.status == 200);
  REQUIRE(eventually([&] { return entry_exists(w.folder() / "token"); }, generous));
  CHECK(w.all_sinks("ok"));
  CHECK(json::parse(slurp(appcircle))["envs"]["default"]["AC_ACCESS_TOKEN"] ==
        slurp(w.folder() / "token").substr(0, slurp(w.folder() / "token").size() - 1));
}

TEST_CASE("a token that expires with no new one to be had is deleted at its expiry") {
  sink_world w;
  w.add_sink({{"path", (w.folder() / "token.json").string()}, {"format", "json"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  const auto written = json::parse(slurp(w.folder() / "token.json"));
  const auto expires_at = parse_rfc3339(written["expires_at"].get<std::string>());
  w.tune([](auto& b) { b.forced_status = 503; });  // the auth server is down from now on
  REQUIRE(eventually([&] { return !entry_exists(w.folder() / "token.json"); }, generous));
  // Not before the token expired (expires_at has whole seconds: 1 s of slack).
  CHECK(std::chrono::system_clock::now() >= expires_at - 1s);
  const auto sink = w.sinks()[0];
  CHECK(sink["state"] == "error");
  CHECK(sink["message"].get<std::string>().find("expired") != std::string::npos);
  CHECK(sink["written_at"].is_null());
}

TEST_CASE("a rejected key deletes the files") {
  sink_world w;
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  w.tune([](auto& b) { b.forced_status = 401; });
  // The next refresh (about 5 s after the token was had) is rejected.
  REQUIRE(eventually([&] { return !entry_exists(w.folder() / "token"); }, generous));
  CHECK(w.sinks()[0]["state"] == "error");
  CHECK(w.org_view("acme")["state"] == "rejected");
}

TEST_CASE("a reload picks up a new sink and forgets a removed one") {
  sink_world w;
  w.add_sink({{"path", (w.folder() / "first").string()}, {"format", "token"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  w.config["organizations"]["acme"]["sinks"] =
      json::array({{{"path", (w.folder() / "second").string()}, {"format", "env"}}});
  w.reload_with_config();
  REQUIRE(eventually([&] { return entry_exists(w.folder() / "second"); }, generous));
  CHECK(slurp(w.folder() / "second").starts_with("AC_ACCESS_TOKEN="));
  CHECK_FALSE(entry_exists(w.folder() / "first"));
  REQUIRE(w.sinks().size() == 1);
  CHECK(w.sinks()[0]["path"] == (w.folder() / "second").string());
  // A new mode for the same file: replaced at once, with the new mode.
  w.config["organizations"]["acme"]["sinks"][0]["mode"] = "0644";
  w.reload_with_config();
  REQUIRE(eventually([&] { return (stat_of(w.folder() / "second").st_mode & 07777) == 0644; },
                     generous));
  CHECK(slurp(w.folder() / "second").starts_with("AC_ACCESS_TOKEN="));
}

TEST_CASE("a sink's mistakes are config problems: file: key: reason") {
  temp_dir dir;
  const auto config = dir.write("actokend.json", R"({"organizations": {"acme": {"sinks": [
      {"path": "relative/token", "format": "token"},
      {"path": "/x/a", "format": "yaml"},
      {"path": "/x/b", "format": "token", "mode": "0666"},
      {"path": "/x/c", "format": "token", "mode": "0700"},
      {"path": "/x/d", "format": "token", "sub_org": "nobody"},
      {"path": "/x/a", "format": "env", "colour": 1}]}}})");
  const auto result = run_process({actokend_path(), "--config", config.string(), "--check-config"});
  CHECK(result.exit_code == 1);
  const auto at = config.string() + ": organizations.acme.sinks";
  CHECK(result.err.find(at + "[0].path: must be an absolute path or start with ~/") !=
        std::string::npos);
  CHECK(result.err.find(at + "[1].format: must be") != std::string::npos);
  CHECK(result.err.find(at + "[2].mode: may let group and others read, never write") !=
        std::string::npos);
  CHECK(result.err.find(at + "[3].mode: may let group and others read, never write") !=
        std::string::npos);
  CHECK(result.err.find(at + "[4].sub_org: must be an alias") != std::string::npos);
  CHECK(result.err.find(at + "[5].colour: unknown key") != std::string::npos);
  CHECK(result.err.find(at + "[5].path: is the same file as organizations.acme.sinks[1].path") !=
        std::string::npos);
}

TEST_CASE("a flush exchanges a sink's token anew at once, not at its refresh point") {
  sink_world w;
  w.tune([](auto& b) { b.token_lifetime = 3600s; });  // refreshed only after about 30 min
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  const auto before = slurp(w.folder() / "token");
  REQUIRE(unix_request(w.socket(), "DELETE", "/v1/tokens?org=acme").status == 200);
  REQUIRE(eventually(
      [&] {
        const auto now = slurp(w.folder() / "token");
        return !now.empty() && now != before;
      },
      generous));
  CHECK(w.upstream.successful_exchanges() == 2);
}

TEST_CASE("readiness never waits for a sink's exchange") {
  sink_world w;
  w.tune([](auto& b) { b.delay = 4s; });  // every exchange takes 4 s
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  const auto started = std::chrono::steady_clock::now();
  w.start();  // returns once /v1/health answers
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(w.sinks()[0]["state"] == "pending");
  CHECK(w.daemon->get("/v1/health").status == 200);
  REQUIRE(w.all_sinks("ok"));
  CHECK(w.upstream.successful_exchanges() == 1);
}

TEST_CASE("an Appcircle config that is not a JSON object, or a FIFO, is never overwritten") {
  sink_world w;
  w.dir.write("sinks/broken.json", "{\"current\": \"default\", oops");
  w.dir.write("sinks/array.json", "[1, 2]");
  REQUIRE(::mkfifo((w.folder() / "fifo.json").c_str(), 0600) == 0);
  std::filesystem::create_directory(w.dir.path() / "foreign");
  REQUIRE(::chown((w.dir.path() / "foreign").c_str(), 65534, 65534) == 0);
  w.add_sink({{"path", (w.folder() / "broken.json").string()}, {"format", "appcircle-cli"}});
  w.add_sink({{"path", (w.folder() / "array.json").string()}, {"format", "appcircle-cli"}});
  w.add_sink({{"path", (w.folder() / "fifo.json").string()}, {"format", "appcircle-cli"}});
  w.add_sink({{"path", (w.dir.path() / "foreign" / "token").string()}, {"format", "token"}});
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.start();
  REQUIRE(eventually([&] { return entry_exists(w.folder() / "token"); }, generous));
  REQUIRE(eventually([&] { return w.sinks()[0]["state"] == "error"; }, generous));
  const auto sinks = w.sinks();
  CHECK(sinks[0]["message"].get<std::string>().find("is not JSON") != std::string::npos);
  CHECK(sinks[0]["message"].get<std::string>().find("left alone") != std::string::npos);
  CHECK(sinks[1]["state"] == "error");
  CHECK(sinks[1]["message"].get<std::string>().find("is not a JSON object") != std::string::npos);
  CHECK(sinks[2]["state"] == "error");
  CHECK(sinks[2]["message"].get<std::string>().find("is a FIFO") != std::string::npos);
  CHECK(sinks[3]["state"] == "error");
  CHECK(sinks[3]["message"].get<std::string>().find("belongs to uid 65534") != std::string::npos);
  CHECK(sinks[4]["state"] == "ok");
  CHECK(slurp(w.folder() / "broken.json") == "{\"current\": \"default\", oops");
  CHECK(slurp(w.folder() / "array.json") == "[1, 2]");
  CHECK(S_ISFIFO(stat_of(w.folder() / "fifo.json").st_mode));
  CHECK(std::filesystem::is_empty(w.dir.path() / "foreign"));
  CHECK(w.daemon->get("/v1/health").status == 200);
}

TEST_CASE("serving never writes a sink: only a new token does") {
  sink_world w;
  w.tune([](auto& b) { b.token_lifetime = 3600s; });
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  const auto before = stat_of(w.folder() / "token");
  const auto written_at = w.sinks()[0]["written_at"];
  for (int i = 0; i < 200; ++i) {
    REQUIRE(w.daemon->get("/v1/token?org=acme").status == 200);
  }
  const auto after = stat_of(w.folder() / "token");
  CHECK(after.st_ino == before.st_ino);  // a write renames a new file in: a new inode
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  CHECK(w.sinks()[0]["written_at"] == written_at);
  CHECK(w.upstream.successful_exchanges() == 1);
}

TEST_CASE("~/ is the daemon's home folder; a reload that keeps a sink does not rewrite it") {
  // The daemon inherits this process's environment: HOME names its home. Set
  // before the world starts its threads and restored after they are gone
  // (setenv is not safe beside a getenv on another thread).
  const temp_dir home_dir;
  struct scoped_home {
    std::optional<std::string> previous;
    explicit scoped_home(const std::filesystem::path& home) {
      if (const char* value = ::getenv("HOME")) previous = value;
      REQUIRE(::setenv("HOME", home.c_str(), 1) == 0);
    }
    ~scoped_home() {
      if (previous) {
        ::setenv("HOME", previous->c_str(), 1);
      } else {
        ::unsetenv("HOME");
      }
    }
    scoped_home(const scoped_home&) = delete;
    scoped_home& operator=(const scoped_home&) = delete;
  } const scoped(home_dir.path());
  const auto& home = home_dir.path();
  sink_world w;

  // An hour's token: no refresh rewrites the file while the test looks.
  w.tune([](stand_in::behaviour& b) { b.token_lifetime = std::chrono::hours{1}; });
  w.add_sink({{"path", "~/acme.token"}, {"format", "token"}});
  w.start();
  REQUIRE(w.all_sinks("ok"));
  CHECK(w.sinks()[0]["path"] == "~/acme.token");  // as configured
  const auto token = w.daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  CHECK(slurp(home / "acme.token") == token + "\n");

  const auto before = stat_of(home / "acme.token");
  w.reload_with_config();  // the same config: the sink is kept as it is
  CHECK(w.sinks()[0]["state"] == "ok");
  const auto after = stat_of(home / "acme.token");
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
  CHECK(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
}

TEST_CASE(
    "a sub-organization's sink on API v1 (no sub-organizations there) is an error, not a wait") {
  sink_world w;
  w.config["organizations"]["acme"]["api_version"] = "v1";
  w.add_sink({{"path", (w.folder() / "mobile.token").string()},
              {"format", "token"},
              {"sub_org", "mobile"}});
  w.add_sink({{"path", (w.folder() / "root.token").string()}, {"format", "token"}});
  w.start();
  REQUIRE(eventually(
      [&] {
        const auto list = w.sinks();
        return list.size() == 2 && list[0]["state"] == "error" && list[1]["state"] == "ok";
      },
      generous));
  CHECK(w.sinks()[0]["message"] == "organization acme uses API v1, which has no sub-organizations");
  CHECK_FALSE(entry_exists(w.folder() / "mobile.token"));
  CHECK(entry_exists(w.folder() / "root.token"));  // the organization's own token is written
}

// SPEC §6 "Every file the daemon writes or deletes": a sink's folder is
// reached by the walk from `/`, every folder on the way judged, and the file
// read back and written relative to that one descriptor.
namespace {

constexpr uid_t nobody_uid = 65534;

// Another local user (a forked child as uid 65534) swapping two folders of a
// folder it may write, in a loop, with renameat2(RENAME_EXCHANGE), which needs
// no right on the folders themselves: issue 24's first finding.
class folder_swapper {
 public:
  folder_swapper(const std::filesystem::path& a, const std::filesystem::path& b) {
    int ready[2];
    REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
    const identity attacker{nobody_uid, nobody_uid, {}};
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      // System calls only: the parent has threads.
      ::close(ready[0]);
      if (!become(attacker)) ::_exit(become_failed);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // after setuid, which clears it
      if (::getppid() != parent) ::_exit(0);
      for (bool told = false;;) {
        if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0 && !told) {
          told = ::write(ready[1], "1", 1) == 1;
        }
      }
    }
    ::close(ready[1]);
    char byte = 0;
    started_ = ::read(ready[0], &byte, 1) == 1;
    ::close(ready[0]);
  }
  ~folder_swapper() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  folder_swapper(const folder_swapper&) = delete;
  folder_swapper& operator=(const folder_swapper&) = delete;

  /// True once the child has swapped the folders at least once.
  bool started() const noexcept { return started_; }

 private:
  pid_t pid_ = -1;
  bool started_ = false;
};

// The entries of the folder open as `fd` and their text, wherever its name is now.
std::map<std::string, std::string> contents_of(int fd) {
  std::map<std::string, std::string> out;
  const auto listing = std::filesystem::path("/proc/self/fd") / std::to_string(fd);
  for (const auto& entry : std::filesystem::directory_iterator(listing)) {
    out[entry.path().filename().string()] = slurp(entry.path());
  }
  return out;
}

// Sink writes the daemon tried so far: those done, and those refused (counted once per token).
std::size_t sink_attempts(const sink_world& w) {
  const auto log = w.daemon->log();
  std::size_t done = 0;
  for (auto at = log.find("wrote token"); at != std::string::npos;
       at = log.find("wrote token", at + 1)) {
    ++done;
  }
  const auto metrics = w.daemon->get("/metrics").body;
  const std::string sample = "\nactoken_sink_failures_total ";
  const auto at = metrics.find(sample);
  REQUIRE(at != std::string::npos);
  return done + std::stoul(metrics.substr(at + sample.size()));
}

constexpr auto their_store =
    R"({"current":"default","envs":{"default":{"API_HOSTNAME":"https://api.evil.example","AUTH_HOSTNAME":"https://auth.evil.example","AC_ACCESS_TOKEN":"theirs"}}})";
constexpr auto our_store =
    R"({"current":"default","envs":{"default":{"API_HOSTNAME":"https://api.appcircle.io","AUTH_HOSTNAME":"https://auth.appcircle.io","AC_ACCESS_TOKEN":"old"}}})";

}  // namespace

TEST_CASE(
    "a sink's folder swapped in a loop by another user: nothing lands outside, nothing of "
    "theirs is imported") {
  sink_world w;
  // `shared` is theirs to write in; `shared/sinks` is the daemon's (root's
  // 0755), `shared/theirs` the other user's, with an Appcircle store of theirs.
  const auto shared = w.dir.path() / "shared";
  const auto sinks = shared / "sinks";
  const auto theirs = shared / "theirs";
  std::filesystem::create_directories(sinks);
  std::filesystem::create_directories(theirs);
  ::chmod(sinks.c_str(), 0755);
  REQUIRE(::chown(shared.c_str(), nobody_uid, nobody_uid) == 0);
  REQUIRE(::chown(theirs.c_str(), nobody_uid, nobody_uid) == 0);
  // Three Appcircle stores (three chances per token for the old daemon's
  // read by path to meet theirs) and a token file.
  const std::vector<std::string> stores{"config.json", "work.json", "ci.json"};
  std::map<std::string, std::string> our_contents, their_contents;
  for (const auto& name : stores) {
    w.dir.write("shared/sinks/" + name, our_store);
    REQUIRE(::chown(w.dir.write("shared/theirs/" + name, their_store, 0644).c_str(), nobody_uid,
                    nobody_uid) == 0);
    our_contents[name] = our_store;
    their_contents[name] = their_store;
    w.add_sink({{"path", (sinks / name).string()}, {"format", "appcircle-cli"}});
  }
  w.add_sink({{"path", (sinks / "token").string()}, {"format", "token"}});
  const std::size_t sink_count = stores.size() + 1;
  // Held by descriptor: whatever the names say, these are the two folders.
  const unique_fd ours(::open(sinks.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const unique_fd their(::open(theirs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(ours.get() >= 0);
  REQUIRE(their.get() >= 0);
  w.config["max_exchanges_per_minute"] = 1000;  // 50 flushes within seconds
  const folder_swapper swapper(sinks, theirs);
  REQUIRE(swapper.started());
  w.start();
  // 50 tokens, each tried on every sink while the folders keep trading places.
  constexpr std::size_t tokens = 50;
  for (std::size_t round = 1; round <= tokens; ++round) {
    CAPTURE(round);
    REQUIRE(eventually([&] { return sink_attempts(w) >= sink_count * round; }, generous));
    for (const auto& [name, text] : contents_of(ours.get())) {
      CAPTURE(name);
      CHECK(text.find("evil") == std::string::npos);
    }
    REQUIRE(contents_of(their.get()) == their_contents);
    if (round < tokens) {
      REQUIRE(unix_request(w.socket(), "DELETE", "/v1/tokens?org=acme").status == 200);
    }
  }
  CHECK(w.upstream.successful_exchanges() >= tokens);
  // The daemon's folder is reached through one the other user may write:
  // refused, with the reason, and nothing written at all.
  for (const auto& sink : w.sinks()) {
    CHECK(sink["state"] == "error");
    CHECK_MESSAGE(sink["message"].get<std::string>().find(
                      shared.string() + " belongs to uid 65534, neither the daemon's user") !=
                      std::string::npos,
                  sink["message"]);
  }
  CHECK(contents_of(ours.get()) == our_contents);
}

TEST_CASE(
    "refused with the reason: a link at a missing folder, a group-writable ancestor, "
    "another user's Appcircle store") {
  sink_world w;
  // A link another user planted where the sink's folder is missing, in a
  // sticky shared folder of root's (as /tmp), pointing at a folder of root's.
  const auto shared = w.dir.path() / "shared";
  std::filesystem::create_directory(shared);
  ::chmod(shared.c_str(), 01777);
  const auto elsewhere = w.dir.path() / "elsewhere";
  std::filesystem::create_directory(elsewhere);
  ::chmod(elsewhere.c_str(), 0755);
  const auto precious = w.dir.write("elsewhere/token", "precious\n", 0600);
  const auto planted = shared / "sinks";
  std::filesystem::create_directory_symlink(elsewhere, planted);
  REQUIRE(::lchown(planted.c_str(), nobody_uid, nobody_uid) == 0);
  w.add_sink({{"path", (planted / "token").string()}, {"format", "token"}});
  // A folder of root's below one its group may write.
  const auto group = w.dir.path() / "group";
  std::filesystem::create_directories(group / "sinks");
  ::chmod(group.c_str(), 0775);
  ::chmod((group / "sinks").c_str(), 0755);
  w.add_sink({{"path", (group / "sinks" / "token").string()}, {"format", "token"}});
  // Another user's Appcircle store in the daemon's own folder.
  const auto store = w.dir.write("sinks/config.json", their_store, 0644);
  REQUIRE(::chown(store.c_str(), nobody_uid, nobody_uid) == 0);
  w.add_sink({{"path", store.string()}, {"format", "appcircle-cli"}});
  w.add_sink({{"path", (w.folder() / "token").string()}, {"format", "token"}});
  w.start();
  // Each one tried: written, or refused.
  REQUIRE(eventually(
      [&] {
        const auto list = w.sinks();
        return std::none_of(list.begin(), list.end(),
                            [](const json& sink) { return sink["state"] == "pending"; });
      },
      generous));
  const auto sinks = w.sinks();
  const auto message = [&](std::size_t i) { return sinks[i]["message"].get<std::string>(); };
  CHECK(sinks[0]["state"] == "error");
  CHECK_MESSAGE(message(0).find(planted.string() + " is a symbolic link owned by uid 65534") !=
                    std::string::npos,
                message(0));
  CHECK(sinks[1]["state"] == "error");
  CHECK(message(1) == group.string() + " is writable by its group (mode 0775)");
  CHECK(sinks[2]["state"] == "error");
  CHECK_MESSAGE(message(2) == store.string() +
                                  " is owned by uid 65534, neither the daemon's user nor root; it "
                                  "is neither imported nor overwritten",
                message(2));
  CHECK(sinks[3]["state"] == "ok");
  CHECK(slurp(precious) == "precious\n");
  CHECK(std::distance(std::filesystem::directory_iterator(elsewhere), {}) == 1);
  CHECK(std::filesystem::is_empty(group / "sinks"));
  CHECK(slurp(store) == their_store);
  CHECK(stat_of(store).st_uid == nobody_uid);
}
