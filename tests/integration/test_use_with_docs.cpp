// docs/use-with.md, run: every snippet marked `<!-- test: NAME -->` runs here, read
// out of the page itself, against the real daemon and the stand-in auth server, with
// its Appcircle API calls sent to a local listener that records the Authorization
// header. Every other code block of the page must say why it is untested here.
//
// The recipes that depend on the machine's shared places (the user daemon's
// /tmp/actoken-<uid> and /run/user/<uid>, the system socket, users and groups) run
// on a private stage (private_stage.hpp): fresh /tmp and /run, and for the CI
// runners' recipe a copy-on-write /etc, so the host is never touched.
#include "tests/integration/integration_test.hpp"
#include "tests/integration/private_stage.hpp"
#include "tests/integration/world.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace {

struct snippet {
  std::string language;
  std::string code;
};

// The page's code blocks: the tested ones by name, and a count of all of them and
// of those marked untested.
struct page {
  std::map<std::string, snippet> tested;
  int blocks = 0;
  int untested = 0;
  std::vector<std::string> unmarked;  // first lines of blocks with no marker
};

page read_page(const std::filesystem::path& path) {
  std::ifstream file(path);
  REQUIRE(file.good());
  page result;
  std::string line;
  std::string marker;  // the marker on the line before a fence
  const std::regex test_marker(R"(^<!-- test: ([a-z0-9-]+) -->$)");
  const std::regex untested_marker(R"(^<!-- untested: .+ -->$)");
  std::smatch match;
  while (std::getline(file, line)) {
    if (line.starts_with("```") && line.size() > 3) {
      snippet block{line.substr(3), {}};
      while (std::getline(file, line) && line != "```") block.code += line + "\n";
      ++result.blocks;
      if (std::regex_match(marker, match, test_marker)) {
        result.tested[match[1]] = std::move(block);
      } else if (std::regex_match(marker, untested_marker)) {
        ++result.untested;
      } else {
        result.unmarked.push_back(block.code.substr(0, block.code.find('\n')));
      }
    }
    if (!line.empty()) marker = line;
  }
  return result;
}

// A plain-HTTP stand-in for the Appcircle API on 127.0.0.1: answers every request
// `[]` and records each request's line and Authorization header.
class api_listener {
 public:
  api_listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  api_listener(const api_listener&) = delete;
  api_listener& operator=(const api_listener&) = delete;
  ~api_listener() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // "GET /path|Bearer xyz" per request so far.
  std::vector<std::string> seen() {
    const std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  void serve() {
    for (;;) {
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      std::string head;
      char chunk[2048];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const auto got = ::recv(client, chunk, sizeof chunk, 0);
        if (got <= 0) break;
        head.append(chunk, static_cast<std::size_t>(got));
      }
      std::string authorization;
      std::smatch match;
      if (std::regex_search(head, match, std::regex("\r\n[Aa]uthorization: ([^\r]*)\r\n"))) {
        authorization = match[1];
      }
      {
        const std::lock_guard lock(mutex_);
        seen_.push_back(head.substr(0, head.find(" HTTP/")) + "|" + authorization);
      }
      const std::string answer =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
          "Connection: close\r\n\r\n[]";
      (void)::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  }

  int fd_ = -1;
  unsigned short port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> seen_;
};

// What a daemon on a private stage needs from the world: read before the stage's
// fresh /tmp hides the world's folder.
struct daemon_kit {
  std::string ca_pem;
  std::string key;
  std::string auth_url;
};

// A daemon on the stage, its config and keys in a folder of the stage's /tmp:
// acme's key, the stand-in's CA, `config` merged over them.
class stage_daemon {
 public:
  stage_daemon(const daemon_kit& kit, const fs::path& socket, json config = json::object(),
               std::vector<std::string> args = {}) {
    dir_.write("pki/ca.pem", kit.ca_pem);
    dir_.write("keys/acme.key", kit.key + "\n");
    config["auth_url"] = kit.auth_url;
    config["ca_file"] = (dir_.path() / "pki" / "ca.pem").string();
    config["key_dir"] = (dir_.path() / "keys").string();
    config["socket"] = socket.string();
    process_.emplace(dir_, std::move(config), std::move(args));
  }
  daemon_process& process() { return *process_; }
  std::string token() const {
    return process_->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  }

 private:
  temp_dir dir_;
  std::optional<daemon_process> process_;
};

// Runs `argv` with exactly `env` and nothing inherited: as cron, a service manager
// or `env -i` starts a program.
process_result run_with_env(const std::vector<std::string>& env, std::vector<std::string> argv) {
  argv.insert(argv.begin(), env.begin(), env.end());
  argv.insert(argv.begin(), {"/usr/bin/env", "-i"});
  return run_process(argv);
}

json said_by(const process_result& result) {
  return {{"exit", result.exit_code}, {"out", result.out}, {"err", result.err}};
}

// Makes `path` a folder of this process's user with exactly `mode`.
void make_folder(const fs::path& path, mode_t mode) {
  fs::create_directories(path);
  ::chmod(path.c_str(), mode);
}

bool staged(const std::optional<json>& said) {
  if (!said)
    skip_case("no private mount namespace here (unshare, or a tmpfs or overlay mount, refused)");
  if (said && said->contains("exception")) {
    FAIL("the stage threw: " << said->at("exception").get<std::string>());
  }
  return said.has_value();
}

// The world the snippets run in: a daemon with acme, ACTOKEN_SOCKET set, actoken on
// PATH, a home folder of their own, and the API listener.
struct docs_world : daemon_world {
  explicit docs_world(world_options options = {}) : daemon_world(std::move(options)) {}

  temp_dir home;
  api_listener api;
  page snippets = read_page(std::filesystem::path(ACTOKEN_SOURCE_DIR) / "docs" / "use-with.md");

  std::map<std::string, std::string> env() const {
    const auto bin = std::filesystem::path(actoken_path()).parent_path();
    return {{"ACTOKEN_SOCKET", socket().string()},
            {"PATH", (home.path() / "bin").string() + ":" + bin.string() + ":/usr/bin:/bin"},
            {"HOME", home.path().string()},
            {"XDG_CONFIG_HOME", ""},
            {"APPCIRCLE_API", api.url()}};
  }
  std::string token() const {
    return daemon->get("/v1/token?org=acme").json()["access_token"].get<std::string>();
  }
  const snippet& get(const std::string& name) const {
    INFO("docs/use-with.md has no snippet marked `<!-- test: " << name << " -->`");
    REQUIRE(snippets.tested.count(name) == 1);
    return snippets.tested.at(name);
  }
  // Runs snippet `name` as a file with `interpreter`.
  process_result run(const std::string& name, const std::string& interpreter) const {
    const auto file = home.write("snippet-" + name, get(name).code, 0700);
    return run_process({interpreter, file.string()}, env());
  }
  void install_program(const std::string& name, const std::string& text) const {
    std::filesystem::create_directories(home.path() / "bin");
    home.write("bin/" + name, text, 0700);
  }
  // For a daemon on a private stage; call before the stage starts.
  daemon_kit kit() const {
    std::ifstream ca(dir.path() / "pki" / "ca.pem");
    std::stringstream pem;
    pem << ca.rdbuf();
    REQUIRE(!pem.str().empty());
    return {pem.str(), key, config["auth_url"].get<std::string>()};
  }
  // How many API calls carried `token`.
  std::size_t calls_with(const std::string& token) {
    const auto seen = api.seen();
    return static_cast<std::size_t>(
        std::count(seen.begin(), seen.end(), "GET /build/v2/profiles|Bearer " + token));
  }
};

}  // namespace

TEST_CASE("every code block of docs/use-with.md is tested here or says why not") {
  const auto snippets =
      read_page(std::filesystem::path(ACTOKEN_SOURCE_DIR) / "docs" / "use-with.md");
  for (const auto& first_line : snippets.unmarked) {
    CHECK_MESSAGE(false, "a code block with no test or untested marker: " << first_line);
  }
  CHECK(snippets.blocks == static_cast<int>(snippets.tested.size()) + snippets.untested);
  // The ones whose runtime is a Debian package (sh, curl, Python, Ruby, the shadow
  // tools), and the build host's config, read by actokend.
  for (const auto* name : {"appcircle-cli", "curl-token", "curl-api", "python", "ruby", "cron",
                           "ci-runners", "ci-config"}) {
    CHECK_MESSAGE(snippets.tested.count(name) == 1, name);
  }
  for (const auto& entry : snippets.tested) {
    const auto& name = entry.first;
    const auto& block = entry.second;
    CHECK_MESSAGE((block.language == "sh" || block.language == "python" ||
                   block.language == "ruby" || (name == "ci-config" && block.language == "jsonc")),
                  name << " is marked tested, in " << block.language);
  }
}

TEST_CASE("Appcircle's CLI: appcircle-config, then appcircle reads the token from its config") {
  docs_world w;
  REQUIRE(w.get("appcircle-cli").language == "sh");
  // The real `appcircle` is an npm package; this stand-in reads what it reads:
  // envs[current].AC_ACCESS_TOKEN of
  // ${XDG_CONFIG_HOME:-~/.config}/@appcircle/cli-nodejs/config.json.
  w.install_program("appcircle", R"(#!/usr/bin/python3
import json, os, sys, urllib.request
base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.environ["HOME"], ".config")
config = json.load(open(os.path.join(base, "@appcircle", "cli-nodejs", "config.json")))
token = config["envs"][config.get("current") or "default"]["AC_ACCESS_TOKEN"]
assert sys.argv[1:] == ["build", "profile", "list"], sys.argv
request = urllib.request.Request(os.environ["APPCIRCLE_API"] + "/build/v2/profiles",
                                 headers={"Authorization": "Bearer " + token})
print(urllib.request.urlopen(request).read().decode())
)");
  const auto result = w.run("appcircle-cli", "/bin/sh");
  CAPTURE(result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "[]\n");
  CHECK(w.api.seen() == std::vector<std::string>{"GET /build/v2/profiles|Bearer " + w.token()});
}

TEST_CASE("curl: the token over the socket, and the header into an API call") {
  docs_world w;
  const auto token = w.run("curl-token", "/bin/sh");
  CAPTURE(token.err);
  CHECK(token.exit_code == 0);
  const auto answer = json::parse(token.out);
  CHECK(answer["access_token"] == w.token());
  CHECK(answer["org"] == "acme");

  const auto api = w.run("curl-api", "/bin/sh");
  CAPTURE(api.err);
  CHECK(api.exit_code == 0);
  CHECK(api.out == "[]");
  CHECK(w.api.seen() == std::vector<std::string>{"GET /build/v2/profiles|Bearer " + w.token()});
}

TEST_CASE("Python and Ruby, standard library only") {
  docs_world w;
  for (const auto& entry :
       {std::pair{"python", "/usr/bin/python3"}, std::pair{"ruby", "/usr/bin/ruby"}}) {
    const auto& name = entry.first;
    const auto& interpreter = entry.second;
    CAPTURE(name);
    INFO(interpreter << " must be installed (scripts/bootstrap installs it)");
    REQUIRE(::access(interpreter, X_OK) == 0);
    const auto before = w.api.seen().size();
    const auto result = w.run(name, interpreter);
    CAPTURE(result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out == "[]\n");
    const auto seen = w.api.seen();
    REQUIRE(seen.size() == before + 1);
    CHECK(seen.back() == "GET /build/v2/profiles|Bearer " + w.token());
  }
}

TEST_CASE("Python's error path names the daemon's error") {
  docs_world w;
  auto code = w.get("python").code;
  const std::string call = "actoken_token(\"acme\"";
  REQUIRE(code.find(call) != std::string::npos);
  code.replace(code.find(call), call.size(), "actoken_token(\"nosuch\"");
  const auto file = w.home.write("bad.py", code);
  const auto result = run_process({"/usr/bin/python3", file.string()}, w.env());
  CHECK(result.exit_code != 0);
  CHECK(result.err.find("actokend: unknown_org: no organization named nosuch") !=
        std::string::npos);
}

// SPEC §5's discovery without the CLI: a user daemon started where XDG_RUNTIME_DIR
// was not set listens in /tmp/actoken-<uid>; the snippets must find it whether the
// caller's XDG_RUNTIME_DIR is unset (cron, su, sudo), empty, or a session folder
// without a daemon in it, and say so plainly when there is no socket at all.
TEST_CASE("curl, Python and Ruby find a daemon in /tmp/actoken-<uid>, or say they found none") {
  docs_world w(world_options{.start_daemon = false});
  const auto kit = w.kit();
  // name -> interpreter, code
  const std::map<std::string, std::pair<std::string, std::string>> programs = {
      {"curl-token", {"/bin/sh", w.get("curl-token").code}},
      {"python", {"/usr/bin/python3", w.get("python").code}},
      {"ruby", {"/usr/bin/ruby", w.get("ruby").code}}};
  const auto api = w.api.url();

  const auto said = on_a_private_stage(stage_etc::shared, [&] {
    json seen;
    const auto uid = std::to_string(::getuid());
    temp_dir home;
    for (const auto& [name, program] : programs) home.write(name, program.second, 0700);
    make_folder("/run/user/" + uid, 0700);  // a login session's folder, no daemon in it
    const std::map<std::string, std::vector<std::string>> runtimes = {
        {"unset", {}},
        {"empty", {"XDG_RUNTIME_DIR="}},
        {"session", {"XDG_RUNTIME_DIR=/run/user/" + uid}}};
    const auto run_all = [&](json& into) {
      for (const auto& [runtime, extra] : runtimes) {
        for (const auto& [name, program] : programs) {
          std::vector<std::string> env{"HOME=" + home.path().string(), "PATH=/usr/bin:/bin",
                                       "APPCIRCLE_API=" + api};
          env.insert(env.end(), extra.begin(), extra.end());
          into[runtime][name] =
              said_by(run_with_env(env, {program.first, (home.path() / name).string()}));
        }
      }
    };
    {
      stage_daemon daemon(kit, "/tmp/actoken-" + uid + "/actokend.sock", json::object(),
                          {"--user"});
      seen["token"] = daemon.token();
      run_all(seen["answering"]);
      seen["stop_exit"] = daemon.process().stop();  // SIGTERM: it removes its socket
    }
    run_all(seen["none"]);
    return seen;
  });
  if (!staged(said)) return;
  const auto& seen = *said;
  const auto token = seen.at("token").get<std::string>();
  for (const std::string runtime : {"unset", "empty", "session"}) {
    CAPTURE(runtime);
    const auto& curl = seen.at("answering").at(runtime).at("curl-token");
    CAPTURE(curl);
    CHECK(curl.at("exit") == 0);
    CHECK(json::parse(curl.at("out").get<std::string>(), nullptr, false)["access_token"] == token);
    for (const std::string name : {"python", "ruby"}) {
      const auto& ran = seen.at("answering").at(runtime).at(name);
      CAPTURE(ran);
      CHECK(ran.at("exit") == 0);
      CHECK(ran.at("out") == "[]\n");
    }
  }
  CHECK(w.calls_with(token) == 6);  // Python and Ruby, three times each
  CHECK(seen.at("stop_exit") == 0);
  // No socket anywhere: each says so in its own words, no traceback.
  for (const std::string runtime : {"unset", "empty", "session"}) {
    for (const std::string name : {"curl-token", "python", "ruby"}) {
      const auto& ran = seen.at("none").at(runtime).at(name);
      CAPTURE(runtime);
      CAPTURE(ran);
      CHECK(ran.at("exit") != 0);
      const auto err = ran.at("err").get<std::string>();
      CHECK(err.find("no actokend socket found") != std::string::npos);
      CHECK(err.find("Traceback") == std::string::npos);
    }
  }
}

// cron starts a job with PATH=/usr/bin:/bin and no XDG_RUNTIME_DIR; actoken here is
// installed in ~/.local/bin (cmake --install --prefix ~/.local), which that PATH
// misses. The job must find it through the PATH it sets, use the user daemon in
// /run/user/<uid> when it answers, and stop before its real work otherwise: with
// actoken missing, with no daemon at all, and with a socket nobody serves (a killed
// daemon's). It stops whether `actoken env` exits 3 then (SPEC §5) or, as older
// builds did, prints a line anyway: the recipe's `actoken ping` catches that.
TEST_CASE("cron: the job as written, under cron's PATH, stops unless a daemon answers") {
  docs_world w(world_options{.start_daemon = false});
  const auto kit = w.kit();
  const auto job = w.get("cron").code;
  const auto report = w.get("python").code;
  const auto api = w.api.url();
  const auto actoken = actoken_path();

  const auto said = on_a_private_stage(stage_etc::shared, [&] {
    json seen;
    const auto uid = std::to_string(::getuid());
    temp_dir home;
    const auto job_file = home.write("bin/appcircle-nightly", job, 0700);
    const auto ran_marker = home.path() / "report-ran";
    // A stand-in report that only says it ran: a job that should stop must not get here.
    const std::string marker_report =
        "import os\nopen(os.environ['HOME'] + '/report-ran', 'w').close()\n";
    home.write("bin/appcircle-report.py", marker_report);
    // What cron gives a job (a crontab line adds APPCIRCLE_API here).
    const std::vector<std::string> cron_env{"HOME=" + home.path().string(), "LOGNAME=root",
                                            "SHELL=/bin/sh", "PATH=/usr/bin:/bin",
                                            "APPCIRCLE_API=" + api};
    const auto run_job = [&] {
      auto result = said_by(run_with_env(cron_env, {job_file.string()}));
      result["report_ran"] = fs::exists(ran_marker);
      fs::remove(ran_marker);
      return result;
    };
    seen["not_installed"] = run_job();
    fs::create_directories(home.path() / ".local" / "bin");
    fs::copy_file(actoken, home.path() / ".local" / "bin" / "actoken");
    seen["no_daemon"] = run_job();

    make_folder("/run/user/" + uid, 0700);
    const fs::path socket = "/run/user/" + uid + "/actoken/actokend.sock";
    stage_daemon daemon(kit, socket, json::object(), {"--user"});
    seen["token"] = daemon.token();
    home.write("bin/appcircle-report.py", report);
    seen["answering"] = run_job();
    home.write("bin/appcircle-report.py", marker_report);
    daemon.process().stop(SIGKILL);  // killed: its socket stays, and nobody serves it
    seen["socket_left"] = fs::exists(fs::symlink_status(socket));
    seen["dead_socket"] = run_job();
    return seen;
  });
  if (!staged(said)) return;
  const auto& seen = *said;

  const auto& missing = seen.at("not_installed");
  CAPTURE(missing);
  CHECK(missing.at("exit") == 127);
  CHECK(missing.at("err").get<std::string>().find("actoken: not found") != std::string::npos);
  CHECK(missing.at("report_ran") == false);

  const auto& answering = seen.at("answering");
  CAPTURE(answering);
  CHECK(answering.at("exit") == 0);
  CHECK(answering.at("out") == "[]\n");
  CHECK(answering.at("report_ran") == false);
  CHECK(w.calls_with(seen.at("token").get<std::string>()) == 1);

  REQUIRE(seen.at("socket_left") == true);
  for (const std::string nobody_serves : {"no_daemon", "dead_socket"}) {
    const auto& stopped = seen.at(nobody_serves);
    CAPTURE(nobody_serves);
    CAPTURE(stopped);
    CHECK(stopped.at("exit") == 3);  // actoken's "daemon not reachable"
    CHECK(stopped.at("err").get<std::string>().rfind("actoken: ", 0) == 0);
    CHECK(stopped.at("report_ran") == false);
  }
}

// The build host's recipe as written, for GitHub's, GitLab's and Jenkins' runner
// accounts, against a system daemon with a 0660 socket of group actoken on
// /run/actoken and the page's own config. The accounts (and the package's group
// actoken) are made with useradd and groupadd in the stage's copy-on-write /etc and
// vanish with it; sudo and systemctl are stand-ins (sudo runs its command, systemctl
// records its arguments). A restarted service starts with the groups /etc/group now
// gives its user: `setpriv --init-groups` plays that.
TEST_CASE("CI runners: the recipe gives github-runner, gitlab-runner and jenkins a token") {
  docs_world w(world_options{.start_daemon = false});
  const auto kit = w.kit();
  const auto recipe = w.get("ci-runners").code;
  const auto config = json::parse(w.get("ci-config").code, nullptr, true, /*ignore_comments=*/true);
  REQUIRE(config.is_object());
  const auto actoken = actoken_path();
  const std::vector<std::string> runners{"github-runner", "gitlab-runner", "jenkins"};

  const auto said = on_a_private_stage(stage_etc::copy_on_write, [&] {
    json seen;
    const auto sh = [](const std::string& command) {
      return said_by(
          run_with_env({"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, {"/bin/sh", "-c", command}));
    };
    // The host as the package and the runners' installers leave it (a host that has
    // these accounts already keeps them); "outsider" is an account the recipe does
    // not name.
    seen["setup"].push_back(sh("groupadd -f --system actoken"));
    auto users = runners;
    users.push_back("outsider");
    for (const auto& user : users) {
      seen["setup"].push_back(
          sh("id -u " + user +
             " >/dev/null 2>&1 || useradd --system -M -l -U -s /usr/sbin/nologin " + user));
    }

    temp_dir tools;  // 0755: the runners may run the CLI from here
    tools.write("bin/sudo", "#!/bin/sh\nexec \"$@\"\n", 0755);
    tools.write("bin/systemctl", "#!/bin/sh\nprintf '%s\\n' \"$*\" >>\"$SYSTEMCTL_LOG\"\n", 0755);
    fs::copy_file(actoken, tools.path() / "actoken");
    ::chmod((tools.path() / "actoken").c_str(), 0755);
    const auto recipe_file = tools.write("ci-runners.sh", recipe, 0700);
    const auto systemctl_log = tools.path() / "systemctl.log";
    seen["recipe"] = said_by(
        run_with_env({"PATH=" + (tools.path() / "bin").string() + ":/usr/sbin:/usr/bin:/sbin:/bin",
                      "SYSTEMCTL_LOG=" + systemctl_log.string()},
                     {"/bin/sh", recipe_file.string()}));
    std::ifstream log(systemctl_log);
    for (std::string line; std::getline(log, line);) seen["systemctl"].push_back(line);
    // Allowed for acme but not in the socket's group, as the recipe once left
    // gitlab-runner and jenkins.
    seen["setup"].push_back(sh("usermod -aG ci-runners outsider"));

    // The system daemon, started after the recipe: it resolves group names at load.
    const fs::path socket = "/run/actoken/actokend.sock";
    auto daemon_config = config;
    daemon_config["socket_group"] = "actoken";  // the system unit's user's group
    stage_daemon daemon(kit, socket, daemon_config);
    seen["socket"] = sh("stat -c '%a %G' " + socket.string()).at("out");
    seen["token"] = daemon.token();
    for (const auto& user : users) {
      seen["groups"][user] = sh("id -nG " + user).at("out");
      seen["cli"][user] =
          said_by(run_with_env({"PATH=/usr/bin:/bin", "HOME=/"},
                               {"/usr/bin/setpriv", "--reuid=" + user, "--regid=" + user,
                                "--init-groups", (tools.path() / "actoken").string(), "token"}));
    }
    return seen;
  });
  if (!staged(said)) return;
  const auto& seen = *said;
  for (const auto& setup : seen.at("setup")) {
    CAPTURE(setup);
    REQUIRE(setup.at("exit") == 0);
  }
  const auto& recipe_run = seen.at("recipe");
  CAPTURE(recipe_run);
  CHECK(recipe_run.at("exit") == 0);
  CHECK(recipe_run.at("err") == "");

  // Each runner's service restarted (the GitHub runner's by its units' pattern).
  std::set<std::string> restarted;
  for (const auto& call : seen.value("systemctl", json::array())) {
    std::istringstream words(call.get<std::string>());
    std::string verb;
    words >> verb;
    for (std::string unit; verb == "restart" && words >> unit;) {
      restarted.insert(unit.ends_with(".service") ? unit.substr(0, unit.size() - 8) : unit);
    }
  }
  CAPTURE(seen.value("systemctl", json::array()));
  for (const std::string service : {"actions.runner.*", "gitlab-runner", "jenkins"}) {
    CHECK_MESSAGE(restarted.count(service) == 1, service << " is not restarted");
  }

  CHECK(seen.at("socket") == "660 actoken\n");
  const auto token = seen.at("token").get<std::string>();
  for (const auto& user : runners) {
    CAPTURE(user);
    const auto& cli = seen.at("cli").at(user);
    CAPTURE(cli);
    CAPTURE(seen.at("groups").at(user));
    CHECK(cli.at("exit") == 0);
    CHECK(cli.at("out") == token + "\n");
  }
  // In the allow list's group but not in the socket's: it cannot even connect.
  const auto& outsider = seen.at("cli").at("outsider");
  CAPTURE(outsider);
  CAPTURE(seen.at("groups").at("outsider"));
  CHECK(outsider.at("exit") == 4);
}

// The docker recipe mounts the socket's folder, not the socket file (`docker run -v`
// is a bind mount): after the daemon restarts, a mounted folder shows the new socket
// and a mounted file still holds the old one, which nobody serves.
TEST_CASE("docker: a mounted socket folder survives a daemon restart, a mounted file does not") {
  docs_world w(world_options{.start_daemon = false});
  const auto kit = w.kit();
  const auto said = on_a_private_stage(stage_etc::shared, [&] {
    json seen;
    const fs::path socket = "/run/actoken/actokend.sock";
    const fs::path folder_view = "/tmp/container/run/actoken";
    const fs::path file_view = "/tmp/container/actokend.sock";
    fs::create_directories(folder_view);
    std::ofstream(file_view).close();
    const auto probe = [](const fs::path& path) -> std::string {
      try {
        return std::to_string(
            unix_request(path, "GET", "/v1/health", "", std::chrono::milliseconds{5000}).status);
      } catch (const std::exception&) {
        return "unreachable";
      }
    };
    const auto probe_both = [&] {
      return json{{"folder", probe(folder_view / "actokend.sock")}, {"file", probe(file_view)}};
    };
    {
      stage_daemon first(kit, socket);
      if (::mount(socket.parent_path().c_str(), folder_view.c_str(), nullptr, MS_BIND, nullptr) !=
              0 ||
          ::mount(socket.c_str(), file_view.c_str(), nullptr, MS_BIND, nullptr) != 0) {
        throw std::runtime_error("bind mount failed");
      }
      seen["before"] = probe_both();
      first.process().stop();
    }
    stage_daemon second(kit, socket);
    seen["after"] = probe_both();
    return seen;
  });
  if (!staged(said)) return;
  CHECK(said->at("before") == json{{"folder", "200"}, {"file", "200"}});
  CHECK(said->at("after") == json{{"folder", "200"}, {"file", "unreachable"}});
}
