#include "tests/integration/harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace actoken::testing {
namespace {

int connect_unix(const std::filesystem::path& socket) {
  const int fd = open_connection(socket);
  if (fd < 0) throw std::runtime_error("connect " + socket.string() + ": " + std::strerror(errno));
  return fd;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("send: " + std::string(std::strerror(errno)));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads until EOF or until `wait` passes without data.
std::string read_all(int fd, std::chrono::milliseconds wait) {
  std::string out;
  char buffer[16384];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (ready <= 0) break;
    const auto n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

temp_dir::temp_dir() : scratch_dir("actoken-test") {
  ::chmod(path().c_str(), 0755);  // tests may act as other users
}

nlohmann::json http_reply::json() const { return nlohmann::json::parse(body, nullptr, false); }

std::string unix_raw(const std::filesystem::path& socket, const std::string& bytes,
                     std::chrono::milliseconds wait) {
  const int fd = connect_unix(socket);
  try {
    write_all(fd, bytes);
  } catch (...) {
    // The daemon may close before reading everything (a 413): read its answer anyway.
  }
  auto out = read_all(fd, wait);
  ::close(fd);
  return out;
}

http_reply unix_request(const std::filesystem::path& socket, const std::string& method,
                        const std::string& target, const std::string& body,
                        std::chrono::milliseconds wait) {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!body.empty() || method == "PUT" || method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "Connection: close\r\n\r\n" + body;
  const auto raw = unix_raw(socket, request, wait);

  http_reply reply;
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) throw std::runtime_error("no HTTP answer: " + raw);
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.rfind("HTTP/1.1 ", 0) != 0) throw std::runtime_error("bad status line: " + line);
  reply.status = static_cast<unsigned>(std::stoul(line.substr(9, 3)));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    reply.headers[name] = value;
  }
  reply.body = raw.substr(head_end + 4);
  return reply;
}

process_result run_process(const std::vector<std::string>& argv,
                           const std::map<std::string, std::string>& extra_env,
                           const std::string& input) {
  temp_dir io;
  const auto out_path = io.path() / "out";
  const auto err_path = io.path() / "err";
  const auto in_path = io.write("in", input);
  const auto args = exec_args(argv);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(in_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (const auto& [name, value] : extra_env) ::setenv(name.c_str(), value.c_str(), 1);
    ::execv(args[0], args.data());
    ::_exit(126);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  process_result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

daemon_process::daemon_process(const temp_dir& dir, nlohmann::json config,
                               std::vector<std::string> extra_args,
                               std::optional<unsigned> open_files) {
  if (!config.contains("socket")) config["socket"] = (dir.path() / "actokend.sock").string();
  if (!config.contains("key_dir")) config["key_dir"] = (dir.path() / "keys").string();
  socket_ = config["socket"].get<std::string>();
  config_path_ = dir.write("actokend.json", config.dump(2));
  log_path_ = dir.path() / "actokend.log";

  std::vector<std::string> argv{actokend_path(), "--config", config_path_.string(), "--log-level",
                                "debug"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  const auto args = exec_args(argv);
  pid_ = ::fork();
  if (pid_ == 0) {
    const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(log, 2);
    ::dup2(log, 1);
    if (open_files) {
      const rlimit limit{*open_files, *open_files};
      if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) ::_exit(125);
    }
    ::execv(args[0], args.data());
    ::_exit(126);
  }
  // Ready means answering: poll /v1/health for up to 10 s.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("actokend exited at start: " + log());
    }
    try {
      if (get("/v1/health").status == 200) return;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  stop(SIGKILL);
  throw std::runtime_error("actokend did not become ready: " + log());
}

daemon_process::~daemon_process() {
  if (pid_ > 0) stop(SIGKILL);
}

std::string daemon_process::log() const { return slurp(log_path_); }

int daemon_process::stop(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

namespace {

// Now on the wall clock as /v1/status writes times: RFC 3339, whole seconds.
std::string utc_now_seconds() {
  const auto now = ::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buffer[32];
  return {buffer, std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm)};
}

}  // namespace

void daemon_process::reload() {
  const auto last = get("/v1/status").json()["last_reload"];
  const auto before = last.dump();
  // `last_reload.at` has whole seconds: a reload in the same second as the
  // one before could look like no reload at all. Start this one in a new second.
  const auto at = last["at"].get<std::string>();
  while (utc_now_seconds() == at) std::this_thread::sleep_for(std::chrono::milliseconds{20});
  ::kill(pid_, SIGHUP);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
    if (get("/v1/status").json()["last_reload"].dump() != before) return;
  }
  throw std::runtime_error("reload not observed");
}

namespace {

std::string from_env_or(const char* name, const char* built) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : built;
}

}  // namespace

std::string actokend_path() { return from_env_or("ACTOKEN_TEST_ACTOKEND", ACTOKEND_PATH); }
std::string actoken_path() { return from_env_or("ACTOKEN_TEST_ACTOKEN", ACTOKEN_PATH); }
std::string built_actokend_path() { return ACTOKEND_PATH; }

bool daemon_under_asan() {
  // An ASan binary imports (or, statically linked, defines) __asan_init; its
  // name is in the dynamic symbol table's strings.
  static const bool asan = [] {
    std::ifstream in(actokend_path(), std::ios::binary);
    const std::string image{std::istreambuf_iterator<char>(in), {}};
    if (image.empty()) throw std::runtime_error("cannot read " + actokend_path());
    return image.find("__asan_init") != std::string::npos;
  }();
  return asan;
}

std::string awkward_key() {
  std::random_device random;
  std::string key = "ac+/k=";
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 40; ++i) key.push_back(alphabet[random() % 64]);
  return key + "==";
}

terminal_run run_on_terminal(
    const std::vector<std::string>& argv,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& env) {
  const auto args = exec_args(argv);
  int terminal = -1;
  const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid < 0) throw std::runtime_error("forkpty: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    ::setenv("TERM", "xterm", 1);
    for (const auto& [name, value] : env) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
    ::execv(args[0], args.data());
    ::_exit(126);
  }
  terminal_run run;
  char buffer[4096];
  for (;;) {
    pollfd ready{terminal, POLLIN, 0};
    if (::poll(&ready, 1, 30000) <= 0) break;
    const auto n = ::read(terminal, buffer, sizeof buffer);
    if (n <= 0) break;  // EIO once the child has gone
    run.seen.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(terminal);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

std::vector<char*> exec_args(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  return args;
}

std::string random_text(std::size_t length) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device random;
  std::string text;
  for (std::size_t i = 0; i < length; ++i) text.push_back(alphabet[random() % 62]);
  return text;
}

int open_connection(const std::filesystem::path& socket) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    ::close(fd);
    errno = error;  // for the caller's message
    return -1;
  }
  return fd;
}

bool enter_private_stage(const std::vector<fresh_folder>& fresh,
                         const std::vector<std::filesystem::path>& keep) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return false;
  }
  std::vector<std::filesystem::path> kept{std::filesystem::path(actokend_path()).parent_path(),
                                          std::filesystem::path(actoken_path()).parent_path()};
  kept.insert(kept.end(), keep.begin(), keep.end());
  for (const auto& folder : fresh) {
    if (!std::filesystem::is_directory(folder.path)) continue;
    // The old folder stays reachable through this descriptor once the tmpfs covers its path.
    const int old = ::open(folder.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (old < 0) return false;
    bool ok = ::mount("tmpfs", folder.path.c_str(), "tmpfs", 0, folder.mode) == 0;
    for (const auto& path : kept) {
      const auto inside = path.lexically_relative(folder.path);
      if (!ok || inside.empty() || *inside.begin() == ".." || inside == ".") continue;
      const auto target = folder.path / inside;
      const auto source = "/proc/self/fd/" + std::to_string(old) + "/" + inside.string();
      std::error_code ec;
      std::filesystem::create_directories(target, ec);
      ok = !ec && ::mount(source.c_str(), target.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
    }
    ::close(old);
    if (!ok) return false;
  }
  return true;
}

}  // namespace actoken::testing
