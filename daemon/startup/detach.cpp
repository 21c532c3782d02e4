#include "daemon/startup/detach.hpp"

#include "daemon/platform/append_file.hpp"
#include "daemon/platform/folder_walk.hpp"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>
#include <variant>

namespace actoken {
namespace {

using steady = std::chrono::steady_clock;

// How long the first look at the socket may take: a daemon that answers,
// answers at once; one that holds the connection is not taken for ready.
constexpr auto first_look_limit = std::chrono::seconds{1};
// How often the socket is asked again while another start finishes.
constexpr auto retry_interval = std::chrono::milliseconds{20};

constexpr char report_ready = 'R';
constexpr char report_socket_taken = 'T';

bool trusts(const std::vector<uid_t>& trusted, uid_t uid) {
  return std::find(trusted.begin(), trusted.end(), uid) != trusted.end();
}

// True when a genuine daemon answers on the socket by `deadline`.
bool genuine_daemon_answers(const detach_request& request, steady::time_point deadline) {
  const auto folder = platform::stat_folder(request.socket.parent_path());
  if (!folder.problem.empty()) return false;
  const auto answer = platform::ask_unix_socket(
      request.socket, "GET /v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
      deadline);
  return genuine_daemon_problem(folder, answer, request.trusted).empty();
}

int print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

// Says why no daemon is ready, with the last line of its log (where the
// daemon said why, when it could).
int fail(const detach_request& request, const std::string& what) {
  auto last = platform::last_line_of(request.log_file);
  std::replace_if(
      last.begin(), last.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
  std::fprintf(stderr, "actokend: %s; the last line of %s: %s\n", what.c_str(),
               request.log_file.c_str(), last.empty() ? "(empty)" : last.c_str());
  return 1;
}

// The log, opened for the background daemon's standard error: the walk to
// its folder (SPEC §6) makes what is missing (0700), the file is opened as the
// audit log is (mode 0600, refused in a folder others may write). A problem is
// said on stderr.
std::optional<unique_fd> open_log(const detach_request& request) {
  const auto walked = platform::walk_to_folder(platform::folder_of(request.log_file),
                                               {.daemon_uid = ::geteuid(), .create_mode = 0700});
  std::string problem = walked.problem;
  if (walked.ok()) {
    auto opened = platform::open_append_file(request.log_file, ::geteuid());
    if (auto* fd = std::get_if<unique_fd>(&opened)) return std::move(*fd);
    problem = std::get<std::string>(opened);
  }
  std::fprintf(stderr, "actokend: cannot open the log for --detach: %s\n", problem.c_str());
  return std::nullopt;
}

// In the background process: tells the waiting parent once, then lets go of
// the pipe, so that nothing the daemon starts later holds it.
start_reporter reporter(unique_fd pipe) {
  auto held = std::make_shared<unique_fd>(std::move(pipe));
  return [held](start_event event) {
    if (held->get() < 0) return;
    platform::send_report(held->get(),
                          event == start_event::ready ? report_ready : report_socket_taken);
    held->reset();
  };
}

// In the parent: waits for the child's report, then for the socket to answer
// when another daemon took it; prints the line when a daemon is ready.
int await_ready(const detach_request& request, const platform::background_start& started,
                const std::string& line) {
  const auto deadline = steady::now() + detach_ready_limit;
  const auto report = platform::wait_for_report(started.report.get(), deadline);
  if (report.byte == report_ready) return print_line(line);
  if (report.timed_out) {
    platform::kill_child(started.child);
    return fail(request, "the daemon was not ready within 5 s, and was stopped");
  }
  platform::reap_child(started.child);
  if (report.byte != report_socket_taken) {
    return fail(request, "the daemon stopped before it was ready");
  }
  // Another start holds the socket's lock (a second `--detach` at the same
  // moment, or a daemon started otherwise): it is that one we wait for.
  while (steady::now() < deadline) {
    if (genuine_daemon_answers(request, deadline)) return print_line(line);
    std::this_thread::sleep_for(retry_interval);
  }
  return fail(request,
              "another daemon holds " + request.socket.string() + " but did not answer within 5 s");
}

}  // namespace

std::string genuine_daemon_problem(const platform::folder_stat& folder,
                                   const platform::socket_answer& answer,
                                   const std::vector<uid_t>& trusted) {
  if (!folder.problem.empty()) return "its folder: " + folder.problem;
  if (folder.is_link) return "its folder is a symbolic link";
  if (!trusts(trusted, folder.owner)) {
    return "its folder belongs to uid " + std::to_string(folder.owner);
  }
  if ((folder.mode & (S_IWGRP | S_IWOTH)) != 0) return "its folder is writable by others";
  if (!answer.problem.empty()) return answer.problem;
  if (!trusts(trusted, answer.peer_uid)) {
    return "it is served by uid " + std::to_string(answer.peer_uid);
  }
  const auto& reply = answer.reply;
  const auto body_at = reply.find("\r\n\r\n");
  if (!reply.starts_with("HTTP/1.1 200 ") || body_at == std::string::npos) {
    return "it did not answer /v1/health with 200";
  }
  const auto body = nlohmann::json::parse(reply.substr(body_at + 4), nullptr, false);
  if (!body.is_object() || body.value("status", std::string()) != "ok") {
    return "its /v1/health answer is not actokend's";
  }
  return {};
}

detach_outcome detach(const detach_request& request) {
  const auto line = socket_env_line(request.socket.string(), request.shell);
  if (!line) {
    std::fprintf(stderr,
                 "actokend: the socket path has a control character, which a shell line "
                 "cannot carry; choose another with --socket\n");
    return {1, {}};
  }
  if (genuine_daemon_answers(request, steady::now() + first_look_limit)) {
    return {print_line(*line), {}};
  }
  auto log = open_log(request);
  if (!log) return {1, {}};
  std::fflush(nullptr);  // nothing buffered is written twice, by parent and child
  auto started = platform::start_in_background(log->get());
  if (started.in_child) return {std::nullopt, reporter(std::move(started.report))};
  log->reset();
  return {await_ready(request, started, *line), {}};
}

}  // namespace actoken
