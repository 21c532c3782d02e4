// docs/use-with.md, run: every snippet marked `<!-- test: NAME -->` runs here, read
// out of the page itself, against the real daemon and the stand-in auth server, with
// its Appcircle API calls sent to a local listener that records the Authorization
// header. Every other code block of the page must say why it is untested here.
#include "tests/integration/world.hpp"

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <regex>
#include <thread>

using namespace actoken;
using namespace actoken::testing;
using json = nlohmann::json;

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

// The world the snippets run in: a daemon with acme, ACTOKEN_SOCKET set, actoken on
// PATH, a home folder of their own, and the API listener.
struct docs_world : daemon_world {
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
};

}  // namespace

TEST_CASE("every code block of docs/use-with.md is tested here or says why not") {
  const auto snippets =
      read_page(std::filesystem::path(ACTOKEN_SOURCE_DIR) / "docs" / "use-with.md");
  for (const auto& first_line : snippets.unmarked) {
    CHECK_MESSAGE(false, "a code block with no test or untested marker: " << first_line);
  }
  CHECK(snippets.blocks == static_cast<int>(snippets.tested.size()) + snippets.untested);
  // The ones whose runtime is a Debian package: sh, curl, Python, Ruby.
  for (const auto* name : {"appcircle-cli", "curl-token", "curl-api", "python", "ruby", "cron"}) {
    CHECK_MESSAGE(snippets.tested.count(name) == 1, name);
  }
  for (const auto& entry : snippets.tested) {
    const auto& name = entry.first;
    const auto& block = entry.second;
    CHECK_MESSAGE(
        (block.language == "sh" || block.language == "python" || block.language == "ruby"),
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

TEST_CASE("cron: the job script as written, `eval \"$(actoken env)\"` first") {
  docs_world w;
  w.install_program("appcircle-report.py", w.get("python").code);
  // As cron starts a job: no ACTOKEN_SOCKET. The daemon listens in the user's session
  // folder, which actoken finds (as /run/user/<uid> without XDG_RUNTIME_DIR: see
  // test_cli_args; that `eval` carries the socket to a child without it: test_cli_daily).
  auto env = w.env();
  env["ACTOKEN_SOCKET"] = "";
  env["XDG_RUNTIME_DIR"] = w.home.path().string();
  const auto session_socket = w.home.path() / "actoken" / "actokend.sock";
  std::filesystem::create_directories(session_socket.parent_path());
  std::filesystem::create_symlink(w.socket(), session_socket);
  const auto file = w.home.write("appcircle-nightly", w.get("cron").code, 0700);
  const auto result = run_process({file.string()}, env);
  CAPTURE(result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "[]\n");
  CHECK(w.api.seen() == std::vector<std::string>{"GET /build/v2/profiles|Bearer " + w.token()});
}
