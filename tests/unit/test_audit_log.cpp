// The audit log (daemon/outputs/audit_log.hpp, SPEC §6 "Audit"): the line's exact
// members and escaping, the cgroup parser that names a peer's systemd unit,
// the peer details read from /proc, and the writer: batching, 0600 files,
// refused folders and files, reopening after a rename, lost lines counted.
#include "daemon/outputs/audit_log.hpp"
#include "daemon/platform/append_file.hpp"
#include "daemon/platform/process_details.hpp"
#include "tests/test_files.hpp"

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

using namespace actoken;
using actoken::testing::mode_of;
using actoken::testing::slurp;
using json = nlohmann::json;

namespace {

const wall_time at = std::chrono::sys_days{std::chrono::year{2026} / 11 / 30} +
                     std::chrono::hours{3} + std::chrono::minutes{12} + std::chrono::seconds{5};

platform::peer_credentials builder() {
  platform::peer_credentials peer;
  peer.uid = 1001;
  peer.gid = 1001;
  peer.pid = 4242;
  peer.details.exe = "/usr/bin/gradle";
  peer.details.unit = "ci-runner.service";
  return peer;
}

std::string line_of(const audit_record& record) {
  std::string out;
  append_audit_line(out, at, record);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    REQUIRE(end != std::string::npos);  // every line ends
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

TEST_CASE("an audit line has exactly SPEC's members, in order, on one line") {
  const auto peer = builder();
  const auto line =
      line_of({&peer, "builder", "token", "acme", "mobile", "ok", "cache", "1a2b3c4d"});
  CHECK(line ==
        R"({"at":"2026-11-30T03:12:05Z","peer":{"uid":1001,"user":"builder","pid":4242,)"
        R"("exe":"/usr/bin/gradle","unit":"ci-runner.service"},"action":"token","org":"acme",)"
        R"("sub_org":"mobile","result":"ok","source":"cache","token":"1a2b3c4d"})"
        "\n");
  const auto parsed = json::parse(line);
  std::vector<std::string> keys;
  for (const auto& [key, value] : parsed.items()) keys.push_back(key);
  CHECK(keys.size() == 8);
  CHECK(parsed["peer"].size() == 5);
}

TEST_CASE("what is not known is null: no user name, pid, exe, unit, org, source or token") {
  platform::peer_credentials stranger;
  stranger.uid = 40001;
  const auto parsed =
      json::parse(line_of({&stranger, std::nullopt, "token", {}, {}, "forbidden", {}, {}}));
  CHECK(parsed["peer"] == json{{"uid", 40001},
                               {"user", nullptr},
                               {"pid", nullptr},
                               {"exe", nullptr},
                               {"unit", nullptr}});
  CHECK(parsed["org"].is_null());
  CHECK(parsed["sub_org"].is_null());
  CHECK(parsed["result"] == "forbidden");
  CHECK(parsed["source"].is_null());
  CHECK(parsed["token"].is_null());
}

TEST_CASE("a reload by SIGHUP has no peer") {
  const auto parsed = json::parse(line_of({nullptr, std::nullopt, "reload", {}, {}, "ok", {}, {}}));
  CHECK(parsed["peer"].is_null());
  CHECK(parsed["action"] == "reload");
}

TEST_CASE("an executable path with a newline, quotes or bad UTF-8 stays one valid JSON line") {
  auto peer = builder();
  peer.details.exe = std::string("/tmp/evil\n{\"forged\":1}\"\\\xff\xfe");
  const auto line = line_of({&peer, "builder", "token", "acme", {}, "ok", "cache", "00000000"});
  CHECK(line.find('\n') == line.size() - 1);
  const auto parsed = json::parse(line);
  CHECK(parsed["peer"]["exe"].get<std::string>().rfind("/tmp/evil\n{\"forged\":1}\"\\", 0) == 0);
  // Names and codes are written as they are only when plainly safe.
  const auto odd = json::parse(
      line_of({&peer, "o\"brien", "token", "ac\nme", "x y", "ok", "cache", "1a2b3c4d"}));
  CHECK(odd["peer"]["user"] == "o\"brien");
  CHECK(odd["org"] == "ac\nme");
  CHECK(odd["sub_org"] == "x y");
}

TEST_CASE("the systemd unit of a cgroup: the first .service or .scope of the unified hierarchy") {
  using platform::systemd_unit_of_cgroup;
  CHECK(systemd_unit_of_cgroup("0::/system.slice/gitlab-runner.service\n") ==
        "gitlab-runner.service");
  // The user manager's own services sit below user@1000.service, and are
  // written with it: the user may name them anything.
  CHECK(systemd_unit_of_cgroup(
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/actoken-job.service\n") ==
        "user@1000.service/actoken-job.service");
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1000.slice/user@1000.service/init.scope\n") ==
        "user@1000.service/init.scope");
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1000.slice/user@1000.service\n") ==
        "user@1000.service");
  // A delegated unit's own sub-cgroups, whatever their names, are that unit's.
  CHECK(systemd_unit_of_cgroup("0::/system.slice/ci-runner.service/job-42.scope\n") ==
        "ci-runner.service");
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1003.slice/user@1003.service/app.slice/"
                               "backup.service/sshd.service\n") ==
        "user@1003.service/backup.service");
  // Names that only look like a user manager's are units like any other.
  CHECK(systemd_unit_of_cgroup("0::/system.slice/user@x.service/a.service\n") == "user@x.service");
  CHECK(systemd_unit_of_cgroup("0::/system.slice/user@.service\n") == "user@.service");
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n") ==
        "session-3.scope");
  // A delegated service's sub-cgroups (Delegate=yes) are still that service's.
  CHECK(systemd_unit_of_cgroup("0::/system.slice/docker.service/payload\n") == "docker.service");
  CHECK(systemd_unit_of_cgroup("0::/system.slice/docker-0123abcd.scope\n") ==
        "docker-0123abcd.scope");
  // No unit: a container's root, a slice, a bare suffix.
  CHECK_FALSE(systemd_unit_of_cgroup("0::/\n"));
  CHECK_FALSE(systemd_unit_of_cgroup("0::/user.slice\n"));
  CHECK_FALSE(systemd_unit_of_cgroup("0::/.service\n"));
  CHECK_FALSE(systemd_unit_of_cgroup(""));
  CHECK_FALSE(systemd_unit_of_cgroup("garbage without colons\n"));
  // No final newline; a path with a colon in it.
  CHECK(systemd_unit_of_cgroup("0::/system.slice/a:b.service") == "a:b.service");
}

TEST_CASE("a user cannot write a line that looks like a system unit's (issue 24)") {
  using platform::systemd_unit_of_cgroup;
  // Cgroups a user makes under their own service manager, named as a system
  // unit is, or as another user's manager.
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1003.slice/user@1003.service/app.slice/"
                               "backup-prod.service\n") == "user@1003.service/backup-prod.service");
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1003.slice/user@1003.service/app.slice/"
                               "user@0.service/cron.service\n") ==
        "user@1003.service/user@0.service");
  CHECK(systemd_unit_of_cgroup("0::/user.slice/user-1003.slice/user@1003.service/system.slice/"
                               "cron.service\n") == "user@1003.service/cron.service");
  const std::string v1 =
      "1:name=systemd:/user.slice/user-1003.slice/user@1003.service/"
      "backup-prod.service\n";
  CHECK(systemd_unit_of_cgroup(v1) == "user@1003.service/backup-prod.service");
}

TEST_CASE("cgroup v1: the name=systemd hierarchy, also when the unified line has no unit") {
  using platform::systemd_unit_of_cgroup;
  const std::string v1 =
      "12:memory:/system.slice/cron.service\n"
      "1:name=systemd:/system.slice/cron.service\n";
  CHECK(systemd_unit_of_cgroup(v1) == "cron.service");
  CHECK(systemd_unit_of_cgroup(v1 + "0::/\n") == "cron.service");
  // A controller line alone names no unit: it may not follow systemd's tree.
  CHECK_FALSE(systemd_unit_of_cgroup("4:memory:/system.slice/cron.service\n"));
}

TEST_CASE("process details: this process's executable; nulls for a process that is gone") {
  const auto self = platform::process_details_of(::getpid());
  REQUIRE(self.exe);
  CHECK(*self.exe == std::filesystem::read_symlink("/proc/self/exe").string());
  const auto gone = platform::process_details_of(0x3ffffff0);  // above pid_max's limit
  CHECK_FALSE(gone.exe);
  CHECK_FALSE(gone.unit);
  CHECK_FALSE(platform::process_details_of(0).exe);
}

TEST_CASE("the writer batches lines for flush_delay into the file it creates 0600") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  boost::asio::io_context io;
  manual_clock clock;
  audit_log log(io.get_executor(), clock, ::geteuid());
  CHECK_FALSE(log.enabled());
  const auto path = dir.path() / "audit.log";
  REQUIRE(log.configure(path).empty());
  CHECK(log.enabled());
  CHECK(mode_of(path) == 0600);
  const auto peer = builder();
  log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
  log.record({&peer, "builder", "flush", "acme", {}, "ok", {}, {}});
  CHECK(slurp(path).empty());  // not yet: written together when the flush timer fires
  // The timer's handler, whenever it runs (within flush_delay; the bound is generous).
  CHECK(io.run_one_for(std::chrono::seconds{10}) == 1);
  const auto lines = lines_of(slurp(path));
  REQUIRE(lines.size() == 2);
  CHECK(json::parse(lines[0])["action"] == "token");
  CHECK(json::parse(lines[1])["action"] == "flush");
  CHECK(log.errors() == 0);
}

TEST_CASE("64 KiB of lines are written at once, without waiting for the timer") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  boost::asio::io_context io;
  manual_clock clock;
  audit_log log(io.get_executor(), clock, ::geteuid());
  const auto path = dir.path() / "audit.log";
  REQUIRE(log.configure(path).empty());
  const auto peer = builder();
  std::size_t recorded = 0;
  while (slurp(path).empty()) {
    log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
    REQUIRE(++recorded < 1000);
  }
  CHECK(slurp(path).size() >= 64 * 1024);
  CHECK(lines_of(slurp(path)).size() == recorded);
}

TEST_CASE("reopening after a rename (logrotate) starts a new file; the old keeps its lines") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  boost::asio::io_context io;
  manual_clock clock;
  audit_log log(io.get_executor(), clock, ::geteuid());
  const auto path = dir.path() / "audit.log";
  REQUIRE(log.configure(path).empty());
  const auto peer = builder();
  log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
  std::filesystem::rename(path, dir.path() / "audit.log.1");
  // Recorded before the reopen: goes to the file it was recorded for.
  REQUIRE(log.configure(path).empty());
  log.record({&peer, "builder", "token", "acme", {}, "forbidden", {}, {}});
  log.flush();
  CHECK(lines_of(slurp(dir.path() / "audit.log.1")).size() == 1);
  const auto fresh = lines_of(slurp(path));
  REQUIRE(fresh.size() == 1);
  CHECK(json::parse(fresh[0])["result"] == "forbidden");
}

TEST_CASE("a folder others may write, a link, a foreign or shared file are refused") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  const auto uid = ::geteuid();
  const auto refused = [&](const std::filesystem::path& path) {
    const auto opened = platform::open_append_file(path, uid);
    const auto* why = std::get_if<std::string>(&opened);
    return why != nullptr ? *why : std::string();
  };
  const auto open_dir = dir.path() / "tmp";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 01777);  // like /tmp: sticky does not help
  CHECK(refused(open_dir / "audit.log").find("use a folder of its own below it") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(open_dir / "audit.log"));

  const auto target = dir.path() / "elsewhere";
  std::filesystem::create_symlink(target, dir.path() / "link.log");
  CHECK(refused(dir.path() / "link.log").find("symbolic link") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(target));

  const auto shared = dir.path() / "shared.log";
  { std::ofstream(shared) << ""; }
  ::chmod(shared.c_str(), 0622);
  CHECK(refused(shared).find("group or others may write") != std::string::npos);

  std::filesystem::create_directory(dir.path() / "sub");
  CHECK(refused(dir.path() / "sub").find("directory") != std::string::npos);

  if (uid == 0) {  // chown needs root, as CI runs
    const auto foreign = dir.path() / "foreign.log";
    { std::ofstream(foreign) << ""; }
    REQUIRE(::chown(foreign.c_str(), 65534, 65534) == 0);
    CHECK(refused(foreign).find("belongs to uid 65534") != std::string::npos);

    // A folder of another user's (0755: no one else may write it) is theirs to
    // swap the file in: refused, and nothing is created there.
    const auto theirs = dir.path() / "theirs";
    std::filesystem::create_directory(theirs);
    ::chmod(theirs.c_str(), 0755);
    REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    CHECK(refused(theirs / "audit.log").find(theirs.string() + " belongs to uid 65534") !=
          std::string::npos);
    CHECK_FALSE(std::filesystem::exists(theirs / "audit.log"));
  }
}

// SPEC §6: the audit log's folder is reached by the walk: a folder on the way
// that others could swap, or a link on the way that is not root's in a folder
// only root can write, is refused, and nothing is created.
TEST_CASE("the walk to the audit log: a group-writable ancestor, another's link on the way") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  boost::asio::io_context io;
  manual_clock clock;
  audit_log log(io.get_executor(), clock, ::geteuid());
  const auto group = dir.path() / "var";
  std::filesystem::create_directories(group / "log");
  ::chmod(group.c_str(), 0775);
  CHECK(log.configure(group / "log" / "audit.log") ==
        "audit_log: " + group.string() +
            " is writable by its group (mode 0775); audit lines are lost (counted in "
            "actoken_audit_errors_total) until a reload");
  CHECK(std::filesystem::is_empty(group / "log"));
  CHECK(platform::check_append_file(group / "log" / "audit.log", ::geteuid()) ==
        group.string() + " is writable by its group (mode 0775)");

  if (::geteuid() == 0) {  // lchown needs root, as CI runs
    const auto real = dir.path() / "real";
    std::filesystem::create_directory(real);
    const auto link = dir.path() / "logs";
    std::filesystem::create_directory_symlink(real, link);
    REQUIRE(::lchown(link.c_str(), 65534, 65534) == 0);
    CHECK(log.configure(link / "audit.log")
              .find(link.string() + " is a symbolic link owned by uid 65534") != std::string::npos);
    CHECK(std::filesystem::is_empty(real));
    // Root's link where only root can write is followed (Debian's /var/run).
    REQUIRE(::lchown(link.c_str(), 0, 0) == 0);
    CHECK(log.configure(link / "audit.log").empty());
    CHECK(std::filesystem::exists(real / "audit.log"));
  }
}

TEST_CASE("check_append_file judges as open_append_file does, and creates nothing") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  const auto uid = ::geteuid();
  const auto fresh = dir.path() / "audit.log";
  CHECK(platform::check_append_file(fresh, uid).empty());
  CHECK_FALSE(std::filesystem::exists(fresh));
  { std::ofstream(fresh) << ""; }
  ::chmod(fresh.c_str(), 0600);
  CHECK(platform::check_append_file(fresh, uid).empty());
  ::chmod(fresh.c_str(), 0666);
  CHECK(platform::check_append_file(fresh, uid).find("chmod 600") != std::string::npos);
  std::filesystem::create_symlink(fresh, dir.path() / "link.log");
  CHECK(platform::check_append_file(dir.path() / "link.log", uid).find("symbolic link") !=
        std::string::npos);
  const auto open_dir = dir.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 01777);
  CHECK(platform::check_append_file(open_dir / "audit.log", uid).find("writable by others") !=
        std::string::npos);
  CHECK(platform::check_append_file(dir.path() / "absent" / "audit.log", uid) ==
        (dir.path() / "absent").string() + " does not exist");
}

TEST_CASE("lines that cannot be written are counted; a failed reopen keeps the file open before") {
  const actoken::testing::scratch_dir dir("actoken-audit");
  boost::asio::io_context io;
  manual_clock clock;
  audit_log log(io.get_executor(), clock, ::geteuid());
  const auto peer = builder();
  const auto open_dir = dir.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0777);

  // Refused from the start: enabled, every line counted as lost.
  CHECK(log.configure(open_dir / "audit.log").find("writable by others") != std::string::npos);
  CHECK(log.enabled());
  log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
  log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
  log.flush();
  CHECK(log.errors() == 2);

  // A good file, then a reload that names a refused one: lines keep going to the good one.
  const auto good = dir.path() / "audit.log";
  REQUIRE(log.configure(good).empty());
  CHECK(log.configure(open_dir / "audit.log").find("still writing to") != std::string::npos);
  log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
  log.flush();
  CHECK(lines_of(slurp(good)).size() == 1);
  CHECK(log.errors() == 2);

  // Off: nothing recorded, nothing counted.
  REQUIRE(log.configure(std::nullopt).empty());
  CHECK_FALSE(log.enabled());
  log.record({&peer, "builder", "token", "acme", {}, "ok", "cache", "1a2b3c4d"});
  log.flush();
  CHECK(lines_of(slurp(good)).size() == 1);
}
