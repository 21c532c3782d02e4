#include "daemon/keys/key_command.hpp"

#include "common/text.hpp"
#include "daemon/runtime/spawn.hpp"
#include "daemon/upstream/key_echo.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <optional>

namespace actoken {
namespace {

namespace net = boost::asio;
using descriptor = net::posix::stream_descriptor;
constexpr auto awaitable_tuple = net::as_tuple(net::use_awaitable);
// Without a pidfd (Linux < 5.3), how often the child's exit is polled.
constexpr auto reap_poll = std::chrono::milliseconds{20};
// Words of a line of standard error that says what failed (SPEC §2), in
// lower case; "No " (as in "No secret key") is matched in its own case.
constexpr std::array<std::string_view, 4> failure_words{"error", "fail", "denied", "not found"};

// Reads `pipe` into `into` up to `cap` bytes (reserved up front, so the
// locked buffer never moves), then discards the rest until EOF: a command
// that prints 10 MB is not left blocked on a full pipe.
net::awaitable<void> read_capped(descriptor& pipe, platform::secure_buffer& into, std::size_t cap) {
  std::array<char, 4096> scratch{};
  for (;;) {
    const auto had = into.size();
    if (had < cap) {
      const auto room = std::min<std::size_t>(cap - had, 16384);
      into.resize(had + room);
      auto [ec, n] =
          co_await pipe.async_read_some(net::buffer(into.data() + had, room), awaitable_tuple);
      into.resize(had + n);
      if (ec) break;
    } else {
      auto [ec, n] = co_await pipe.async_read_some(net::buffer(scratch), awaitable_tuple);
      if (ec) break;
    }
  }
  platform::secure_wipe(scratch.data(), scratch.size());
}

// Whatever is still in `pipe` without waiting: what the child wrote before
// it exited, when something it started keeps the pipe open.
void drain(descriptor& pipe, platform::secure_buffer& into, std::size_t cap) {
  std::array<char, 4096> scratch{};
  for (;;) {
    const auto had = into.size();
    ssize_t n = 0;
    if (had < cap) {
      const auto room = std::min<std::size_t>(cap - had, 16384);
      into.resize(had + room);
      n = ::read(pipe.native_handle(), into.data() + had, room);
      into.resize(had + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
    } else {
      n = ::read(pipe.native_handle(), scratch.data(), scratch.size());
    }
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  platform::secure_wipe(scratch.data(), scratch.size());
}

// Waits until the child has ended and reaps it, by its pid only. What it
// left running in its process group is killed first, while the group's id
// is still reserved by the unreaped child: a key_command is one-shot (a
// daemon it starts, like gpg-agent, leaves the group with setsid).
net::awaitable<platform::child_exit> reap(platform::child_process& child, descriptor* pidfd) {
  for (;;) {
    if (platform::has_ended(child)) {
      platform::kill_child_group(child);
      if (auto ended = platform::try_reap(child)) {
        child.pid = -1;
        co_return *ended;
      }
    }
    if (pidfd != nullptr) {
      co_await pidfd->async_wait(descriptor::wait_read, awaitable_tuple);
    } else {
      net::steady_timer poll(co_await net::this_coro::executor, reap_poll);
      co_await poll.async_wait(awaitable_tuple);
    }
  }
}

// Both pipes to EOF, or the child's exit, whichever comes first.
net::awaitable<void> read_until_exit(descriptor& out, platform::secure_buffer& output,
                                     descriptor& err, platform::secure_buffer& error_output,
                                     descriptor* pidfd) {
  using namespace net::experimental::awaitable_operators;
  if (pidfd != nullptr) {
    co_await ((read_capped(out, output, key_command_output_limit) &&
               read_capped(err, error_output, key_command_error_limit)) ||
              pidfd->async_wait(descriptor::wait_read, awaitable_tuple));
  } else {
    co_await (read_capped(out, output, key_command_output_limit) &&
              read_capped(err, error_output, key_command_error_limit));
  }
}

// Reads both pipes until EOF or the child's exit, then reaps it (a command
// that closes its output but keeps running is still waited for, under the
// caller's deadline) and takes what its pipes still hold.
net::awaitable<platform::child_exit> collect(platform::child_process& child, descriptor& out,
                                             platform::secure_buffer& output, descriptor& err,
                                             platform::secure_buffer& error_output,
                                             descriptor* pidfd) {
  co_await read_until_exit(out, output, err, error_output, pidfd);
  const auto ended = co_await reap(child, pidfd);
  drain(out, output, key_command_output_limit);
  drain(err, error_output, key_command_error_limit);
  co_return ended;
}

bool is_printable(unsigned char c) { return c >= 0x20 && c != 0x7F && c < 0x80; }

// True when `line` says what went wrong rather than warns: gpg writes
// "gpg: WARNING: unsafe permissions on homedir" before "gpg: decryption
// failed: No secret key".
bool says_what_failed(std::string_view line) {
  if (line.find("No ") != std::string_view::npos) return true;
  std::string lower_case(line);
  for (auto& c : lower_case) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool found = std::any_of(
      failure_words.begin(), failure_words.end(),
      [&](std::string_view word) { return lower_case.find(word) != std::string::npos; });
  platform::secure_wipe(lower_case.data(), lower_case.size());
  return found;
}

// The line of standard error a reason is made of, with the characters nothing
// shows removed first (`upstream::without_invisible`): the first that says
// what failed (`says_what_failed`), else the first that says anything.
upstream::scrubbed_text reason_line(std::string_view error_output) {
  std::optional<upstream::scrubbed_text> first;
  while (!error_output.empty()) {
    const auto end = error_output.find('\n');
    const auto raw = error_output.substr(0, end);
    error_output =
        end == std::string_view::npos ? std::string_view() : error_output.substr(end + 1);
    auto visible = upstream::without_invisible(raw);
    upstream::scrubbed_text line(visible ? std::move(*visible) : std::string(raw));
    const auto text = trim(line.view());
    if (text.empty()) continue;
    if (says_what_failed(text)) return upstream::scrubbed_text(std::string(text));
    if (!first) first.emplace(std::string(text));
  }
  return first ? std::move(*first) : upstream::scrubbed_text(std::string());
}

}  // namespace

std::string sanitise_command_reason(std::string_view error_output, std::string_view key,
                                    std::string_view held) {
  const auto line = reason_line(error_output);
  // What would be shown: printable ASCII only (a control or escape character,
  // or a byte of a multi-byte character cut short, never reaches a log line
  // or a JSON string). It is searched whole, as is the line it comes from:
  // whatever it dropped may have stood between the key's characters.
  std::string shown;
  for (const char c : line.view()) {
    if (is_printable(static_cast<unsigned char>(c))) shown.push_back(c);
  }
  const upstream::scrubbed_text shown_text(std::move(shown));
  for (const auto secret : {key, held}) {
    if (secret.empty()) continue;
    const upstream::key_finder finder(secret);
    if (finder.found_in(line.view()) || finder.found_in(shown_text.view())) {
      return "(its standard error held the key; withheld)";
    }
  }
  const auto trimmed = trim(shown_text.view());
  if (trimmed.size() <= key_command_reason_limit) return std::string(trimmed);
  return std::string(trimmed.substr(0, key_command_reason_limit)) + "...";
}

std::string command_label(const std::vector<std::string>& argv) {
  std::string program = argv.empty() ? "" : argv.front();
  std::string shown;
  for (const char c : program) {
    if (is_printable(static_cast<unsigned char>(c))) shown.push_back(c);
  }
  return "key_command " + shown;
}

key_command_result interpret_key_command(const std::vector<std::string>& argv,
                                         const platform::secure_buffer& output,
                                         const platform::secure_buffer& error_output,
                                         const std::optional<platform::child_exit>& ended,
                                         std::chrono::milliseconds timeout, std::string_view held) {
  const auto label = command_label(argv);
  const auto first_line = trim(output.view().substr(0, output.view().find('\n')));
  const auto reason = sanitise_command_reason(error_output.view(), first_line, held);
  const auto with_reason = [&reason](std::string text) {
    return reason.empty() ? text + " (nothing on standard error)" : text + ": " + reason;
  };
  if (!ended) {
    const auto secs = std::chrono::duration<double>(timeout).count();
    return {nullptr, with_reason(label + " timed out after " + fmt::format("{:g}", secs) +
                                 " s and was killed")};
  }
  if (!ended->exited || ended->code != 0) {
    return {nullptr, with_reason(label + " failed (" + platform::describe(*ended) + ")")};
  }
  if (output.view().find('\n') == std::string_view::npos &&
      output.size() >= key_command_output_limit) {
    return {nullptr, label + " printed more than 64 KiB without a line end; not a key"};
  }
  if (first_line.empty()) {
    return {nullptr, with_reason(label + " printed no key on its first line")};
  }
  if (std::any_of(first_line.begin(), first_line.end(), [](char c) {
        return !is_printable(static_cast<unsigned char>(c)) || c == ' ';
      })) {
    return {nullptr, label +
                         " printed a first line with white space or control characters "
                         "inside; not a key"};
  }
  return {std::make_shared<const platform::secure_buffer>(first_line), ""};
}

key_command_run::key_command_run(net::any_io_executor executor, std::string org,
                                 std::vector<std::string> argv, std::chrono::milliseconds timeout,
                                 platform::shared_key held)
    : executor_(std::move(executor)),
      org_(std::move(org)),
      argv_(std::move(argv)),
      timeout_(timeout),
      held_(std::move(held)),
      deadline_(executor_),
      done_(executor_, std::chrono::steady_clock::time_point::max()) {}

void key_command_run::start(done_handler on_done) {
  on_done_ = std::move(on_done);
  running_ = true;
  deadline_.expires_after(timeout_);
  spawn_detached(executor_, run(shared_from_this()), "the key_command of organization " + org_);
}

void key_command_run::cancel() noexcept {
  if (!running_ || cancelled_) return;
  cancelled_ = true;
  if (child_ != nullptr && child_->pid > 0) platform::kill_child_group(*child_);
  deadline_.cancel();
}

net::awaitable<void> key_command_run::wait() {
  while (running_) co_await done_.async_wait(awaitable_tuple);
}

void key_command_run::finish(key_command_result result) {
  result_ = std::move(result);
  running_ = false;
  child_ = nullptr;
  if (!cancelled_ && on_done_) {
    try {
      on_done_(*this);
    } catch (const std::exception& e) {
      spdlog::error("organization {}: after its key_command: {}", org_, e.what());
    }
  }
  on_done_ = nullptr;
  done_.cancel();
}

// A detached coroutine: whatever happens, it ends in finish(), which wakes
// every waiter (STYLE 21).
// The unnamed parameter keeps the run alive while it goes.
net::awaitable<void> key_command_run::run(std::shared_ptr<key_command_run> /*self*/) {
  using namespace net::experimental::awaitable_operators;
  key_command_result result;
  std::optional<platform::child_process> child;
  try {
    if (cancelled_) {
      finish({nullptr, command_label(argv_) + " was stopped"});
      co_return;
    }
    std::string problem;
    child = platform::start_child(argv_, problem);
    if (!child) {
      finish({nullptr, command_label(argv_) + ": cannot run: " + problem});
      co_return;
    }
    child_ = &*child;
    descriptor out(executor_, child->stdout_read.release());
    descriptor err(executor_, child->stderr_read.release());
    std::optional<descriptor> pidfd;
    if (child->pidfd.get() >= 0) pidfd.emplace(executor_, child->pidfd.release());
    auto* pidfd_ptr = pidfd ? &*pidfd : nullptr;

    platform::secure_buffer output;
    output.reserve(key_command_output_limit);
    platform::secure_buffer error_output;
    error_output.reserve(key_command_error_limit);

    auto raced = co_await (collect(*child, out, output, err, error_output, pidfd_ptr) ||
                           deadline_.async_wait(awaitable_tuple));
    std::optional<platform::child_exit> ended;
    if (raced.index() == 0) {
      ended = std::get<0>(raced);
    } else if (child->pid > 0) {
      // Out of time (or cancelled): the whole group goes, then the child is reaped.
      platform::kill_child_group(*child);
      co_await reap(*child, pidfd_ptr);
    }
    if (cancelled_) {
      result = {nullptr, command_label(argv_) + " was stopped"};
    } else {
      result = interpret_key_command(argv_, output, error_output, ended, timeout_,
                                     held_ ? held_->view() : std::string_view());
    }
  } catch (const std::exception& e) {
    result = {nullptr, command_label(argv_) + ": " + e.what()};
  }
  // Whatever went wrong above, no child is left running or unreaped.
  if (child && child->pid > 0) {
    platform::kill_child_group(*child);
    platform::reap_now(*child);
  }
  if (!result.key) spdlog::warn("organization {}: {}", org_, result.problem);
  finish(std::move(result));
}

}  // namespace actoken
