// actoken-proctimer: times whole processes for SPEC §7, more finely than a
// shell loop can.
//
//   actoken-proctimer exec [--runs N] [--input FILE] [--before 'CMD ARG...'] [--json]
//                          -- CMD ARG... [:: CMD ARG...]...
//     Runs each command N times, interleaved (A B A B ...), stdin from FILE,
//     stdout captured; a run fails when it exits non-zero or prints nothing.
//     With --before, runs that command (split at spaces) untimed before each
//     timed run, e.g. to flush a cache so that every run is a cold one; it
//     must exit 0. Reports median, p90, mean, min and max wall time per command.
//
//   actoken-proctimer ready --socket PATH [--runs N] [--timeout S] [--log FILE] [--json] -- CMD...
//     Starts CMD (a daemon), polls PATH until a connection answers
//     `GET /v1/health` with 200, records the time from spawn to that answer
//     and the daemon's VmRSS, stops it with SIGTERM and waits; N times.

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using steady = std::chrono::steady_clock;
using json = nlohmann::json;

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "actoken-proctimer: " << problem << "\n"
            << "usage: actoken-proctimer exec [--runs N] [--input FILE] [--before 'CMD ARG...'] "
               "[--json] -- CMD ARG... [:: CMD ARG...]...\n"
            << "       actoken-proctimer ready --socket PATH [--runs N] [--timeout S] [--log FILE] "
               "[--json] -- CMD ARG...\n";
  std::exit(2);
}

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

/// Summary of a list of samples, in milliseconds.
json summary(std::vector<double> samples) {
  if (samples.empty()) return {{"count", 0}};
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    return samples[std::min(rank, samples.size() - 1)];
  };
  const auto n = samples.size();
  const double median = n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
  return {
      {"count", n},
      {"median_ms", median},
      {"p90_ms", at(0.9)},
      {"mean_ms", std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(n)},
      {"min_ms", samples.front()},
      {"max_ms", samples.back()}};
}

std::vector<char*> c_argv(std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (auto& a : argv) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

/// RAII for posix_spawn_file_actions_t.
struct file_actions {
  file_actions() { posix_spawn_file_actions_init(&actions); }
  ~file_actions() { posix_spawn_file_actions_destroy(&actions); }
  file_actions(const file_actions&) = delete;
  file_actions& operator=(const file_actions&) = delete;
  posix_spawn_file_actions_t actions{};
};

// Waits for `pid`; its CPU time (user + system, ms) goes to `cpu_ms` when given.
int wait_for(pid_t pid, double* cpu_ms = nullptr) {
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) return -1;
  }
  if (cpu_ms != nullptr) {
    const auto ms_of = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
    };
    *cpu_ms = ms_of(usage.ru_utime) + ms_of(usage.ru_stime);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// ---------------------------------------------------------------------------
// exec

struct command {
  std::vector<std::string> argv;
  std::vector<double> samples;
  std::vector<double> cpu_samples;
  unsigned failures = 0;
  std::string first_failure;
};

// Runs `before` (untimed) to completion; throws unless it exits 0.
void run_untimed(std::vector<std::string> before) {
  file_actions quiet;
  posix_spawn_file_actions_addopen(&quiet.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&quiet.actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&quiet.actions, 2, "/dev/null", O_WRONLY, 0);
  auto argv = c_argv(before);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], &quiet.actions, nullptr, argv.data(), environ);
  if (rc != 0) throw std::runtime_error("cannot start " + before[0] + ": " + std::strerror(rc));
  const int code = wait_for(pid);
  if (code != 0) {
    throw std::runtime_error("--before command " + before[0] + " exited with status " +
                             std::to_string(code));
  }
}

int run_exec(std::vector<command>& commands, unsigned runs, const std::string& input,
             const std::vector<std::string>& before, bool json_output) {
  // stdout goes to an in-memory file: a pipe could fill up and stall the child,
  // and what it printed is only looked at after it has exited.
  const int out_fd = ::memfd_create("actoken-proctimer-out", MFD_CLOEXEC);
  if (out_fd < 0) throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
  file_actions actions;
  posix_spawn_file_actions_addopen(&actions.actions, 0, input.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions.actions, out_fd, 1);
  posix_spawn_file_actions_addopen(&actions.actions, 2, "/dev/null", O_WRONLY, 0);

  for (unsigned run = 0; run < runs; ++run) {
    for (auto& cmd : commands) {
      if (!before.empty()) run_untimed(before);
      auto argv = c_argv(cmd.argv);
      if (::ftruncate(out_fd, 0) != 0 || ::lseek(out_fd, 0, SEEK_SET) != 0) {
        throw std::runtime_error(std::string("cannot reset the output file: ") +
                                 std::strerror(errno));
      }
      pid_t pid = -1;
      const auto start = steady::now();
      const int rc = posix_spawnp(&pid, argv[0], &actions.actions, nullptr, argv.data(), environ);
      if (rc != 0) {
        throw std::runtime_error("cannot start " + cmd.argv[0] + ": " + std::strerror(rc));
      }
      double cpu_ms = 0;
      const int code = wait_for(pid, &cpu_ms);
      const auto elapsed = steady::now() - start;
      struct stat st {};
      ::fstat(out_fd, &st);
      if (code != 0 || st.st_size == 0) {
        ++cmd.failures;
        if (cmd.first_failure.empty()) {
          cmd.first_failure = code != 0 ? "exit status " + std::to_string(code) : "printed nothing";
        }
        continue;
      }
      cmd.samples.push_back(ms(elapsed));
      cmd.cpu_samples.push_back(cpu_ms);
    }
  }
  ::close(out_fd);

  json out{{"mode", "exec"}, {"runs", runs}, {"commands", json::array()}};
  bool ok = true;
  for (const auto& cmd : commands) {
    auto entry = summary(cmd.samples);
    entry["cpu"] = summary(cmd.cpu_samples);
    entry["argv"] = cmd.argv;
    entry["failures"] = cmd.failures;
    if (!cmd.first_failure.empty()) entry["first_failure"] = cmd.first_failure;
    out["commands"].push_back(entry);
    ok = ok && cmd.failures == 0;
  }
  if (json_output) {
    std::cout << out.dump() << '\n';
  } else {
    for (const auto& entry : out["commands"]) {
      std::string line;
      for (const auto& a : entry["argv"]) line += a.get<std::string>() + " ";
      std::printf("%-60s median %.3f ms  p90 %.3f ms  min %.3f ms  CPU %.3f ms  failures %u\n",
                  line.c_str(), entry.value("median_ms", 0.0), entry.value("p90_ms", 0.0),
                  entry.value("min_ms", 0.0), entry["cpu"].value("median_ms", 0.0),
                  entry["failures"].get<unsigned>());
    }
  }
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------
// ready

// One attempt: connect, ask /v1/health, true when it answers 200.
bool health_answers(const std::string& socket_path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    const std::string request =
        "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      std::string answer;
      char chunk[1024];
      ssize_t n = 0;
      while ((n = ::read(fd, chunk, sizeof chunk)) > 0) {
        answer.append(chunk, static_cast<std::size_t>(n));
      }
      ok = answer.starts_with("HTTP/1.1 200");
    }
  }
  ::close(fd);
  return ok;
}

std::optional<long> vm_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return std::nullopt;
}

int run_ready(std::vector<std::string> argv, const std::string& socket_path, unsigned runs,
              double timeout_s, const std::string& log, bool json_output) {
  file_actions actions;
  posix_spawn_file_actions_addopen(&actions.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions.actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0600);
  posix_spawn_file_actions_adddup2(&actions.actions, 1, 2);
  auto args = c_argv(argv);
  const auto timeout =
      std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(timeout_s));

  std::vector<double> samples;
  std::vector<double> cpu_samples;
  std::vector<long> rss;
  std::string failure;
  for (unsigned run = 0; run < runs && failure.empty(); ++run) {
    pid_t pid = -1;
    const auto start = steady::now();
    const int rc = posix_spawnp(&pid, args[0], &actions.actions, nullptr, args.data(), environ);
    if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    bool ready = false;
    while (steady::now() - start < timeout) {
      if (health_answers(socket_path)) {
        ready = true;
        break;
      }
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        failure = argv[0] + " exited before it was ready (see " + log + ")";
        pid = -1;
        break;
      }
      // Poll often: the whole start is expected to take a few milliseconds.
      std::this_thread::sleep_for(std::chrono::microseconds{100});
    }
    const auto elapsed = steady::now() - start;
    if (ready) {
      samples.push_back(ms(elapsed));
      if (const auto kib = vm_rss_kib(pid)) rss.push_back(*kib);
    } else if (failure.empty()) {
      failure = argv[0] + " was not ready within the timeout";
    }
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      double cpu_ms = 0;
      const int code = wait_for(pid, &cpu_ms);
      if (ready) cpu_samples.push_back(cpu_ms);
      if (code != 0 && failure.empty()) {
        failure = argv[0] + " exited with status " + std::to_string(code) + " on SIGTERM";
      }
    }
    // The daemon unlinks its socket on the way out; a leftover would make the
    // next run's first poll connect to nothing and only cost time, but say so.
    struct stat st {};
    if (::stat(socket_path.c_str(), &st) == 0 && failure.empty()) {
      failure = "the socket was left behind after SIGTERM";
    }
  }

  json out = summary(samples);
  out["mode"] = "ready";
  out["samples_ms"] = samples;
  out["rss_kib_at_ready"] = rss;
  // CPU time of each daemon's whole life (start, ready, SIGTERM, exit): what a
  // busy machine disturbs least.
  out["cpu"] = summary(cpu_samples);
  if (!failure.empty()) out["failure"] = failure;
  if (json_output) {
    std::cout << out.dump() << '\n';
  } else {
    std::printf(
        "start to ready over %zu runs: median %.2f ms  min %.2f ms  max %.2f ms  (CPU median "
        "%.2f ms)\n",
        samples.size(), out.value("median_ms", 0.0), out.value("min_ms", 0.0),
        out.value("max_ms", 0.0), out["cpu"].value("median_ms", 0.0));
    if (!failure.empty()) std::printf("  failure: %s\n", failure.c_str());
  }
  return failure.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("a mode is required");
  const std::string mode = argv[1];
  if (mode != "exec" && mode != "ready") usage("unknown mode " + mode);
  unsigned runs = mode == "exec" ? 200 : 10;
  std::string input = "/dev/null";
  std::vector<std::string> before;
  std::string socket_path;
  std::string log = "/dev/null";
  double timeout_s = 5;
  bool json_output = false;
  int i = 2;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= argc) usage(flag + " needs a value");
    return argv[++i];
  };
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    try {
      if (arg == "--runs") {
        runs = static_cast<unsigned>(std::stoul(value(arg)));
      } else if (arg == "--input") {
        input = value(arg);
      } else if (arg == "--before") {
        std::istringstream words(value(arg));
        before.assign(std::istream_iterator<std::string>(words), {});
        if (before.empty()) usage("--before needs a command");
      } else if (arg == "--socket") {
        socket_path = value(arg);
      } else if (arg == "--log") {
        log = value(arg);
      } else if (arg == "--timeout") {
        timeout_s = std::stod(value(arg));
      } else if (arg == "--json") {
        json_output = true;
      } else {
        usage("unknown option " + arg);
      }
    } catch (const std::logic_error&) {
      usage("bad value for " + arg);
    }
  }
  std::vector<std::vector<std::string>> commands(1);
  for (; i < argc; ++i) {
    if (std::string(argv[i]) == "::") {
      commands.emplace_back();
    } else {
      commands.back().emplace_back(argv[i]);
    }
  }
  if (runs == 0) usage("--runs must be at least 1");
  for (const auto& c : commands) {
    if (c.empty()) usage("a command is required after -- (and after each ::)");
  }
  ::signal(SIGPIPE, SIG_IGN);
  try {
    if (mode == "ready") {
      if (socket_path.empty()) usage("ready needs --socket");
      if (commands.size() != 1) usage("ready takes one command");
      return run_ready(commands.front(), socket_path, runs, timeout_s, log, json_output);
    }
    std::vector<command> cmds;
    for (auto& c : commands) cmds.push_back(command{std::move(c), {}, {}, 0, {}});
    return run_exec(cmds, runs, input, before, json_output);
  } catch (const std::exception& e) {
    std::cerr << "actoken-proctimer: " << e.what() << '\n';
    return 1;
  }
}
