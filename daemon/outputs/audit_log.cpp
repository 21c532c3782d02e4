#include "daemon/outputs/audit_log.hpp"

#include "common/json_text.hpp"
#include "daemon/platform/append_file.hpp"

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <system_error>

namespace actoken {
namespace {

using namespace std::string_view_literals;

// Lines waiting for the flush timer go at once past this many bytes, so a
// burst never holds much in memory.
constexpr std::size_t flush_threshold = 64 * 1024;
// A failing file is reported at most this often (the count says the rest).
constexpr auto warning_interval = std::chrono::minutes{1};

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

// Names, codes and fingerprints are nearly always [A-Za-z0-9._-]: those go in
// as they are (the hot path), anything else escaped.
bool is_plain(std::string_view text) noexcept {
  for (const char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
    if (!plain) return false;
  }
  return true;
}

void append_string_or_null(std::string& out, std::string_view text) {
  if (text.empty()) {
    out += "null"sv;
  } else if (is_plain(text)) {
    out += '"';
    out += text;
    out += '"';
  } else {
    append_json_string(out, text);
  }
}

void append_optional(std::string& out, const std::optional<std::string>& text) {
  if (text) {
    append_json_string(out, *text);
  } else {
    out += "null"sv;
  }
}

void append_peer(std::string& out, const audit_record& record) {
  const auto* peer = record.peer;
  if (peer == nullptr) {
    out += "null"sv;
    return;
  }
  out += R"({"uid":)"sv;
  append_number(out, peer->uid);
  out += R"(,"user":)"sv;
  if (record.user) {
    append_string_or_null(out, *record.user);
  } else {
    out += "null"sv;
  }
  out += R"(,"pid":)"sv;
  if (peer->pid > 0) {
    append_number(out, static_cast<std::uint64_t>(peer->pid));
  } else {
    out += "null"sv;
  }
  out += R"(,"exe":)"sv;
  append_optional(out, peer->details.exe);
  out += R"(,"unit":)"sv;
  append_optional(out, peer->details.unit);
  out += '}';
}

std::size_t lines_in(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The line with `at` already as RFC 3339 text.
void append_line(std::string& out, std::string_view at, const audit_record& record) {
  out += R"({"at":")"sv;
  out += at;
  out += R"(","peer":)"sv;
  append_peer(out, record);
  const std::array<std::pair<std::string_view, std::string_view>, 6> fields{{
      {R"(,"action":)"sv, record.action},
      {R"(,"org":)"sv, record.org},
      {R"(,"sub_org":)"sv, record.sub_org},
      {R"(,"result":)"sv, record.result},
      {R"(,"source":)"sv, record.source},
      {R"(,"token":)"sv, record.token},
  }};
  for (const auto& [name, value] : fields) {
    out += name;
    append_string_or_null(out, value);
  }
  out += "}\n"sv;
}

}  // namespace

void append_audit_line(std::string& out, wall_time at, const audit_record& record) {
  std::string text;
  append_rfc3339(text, at);
  append_line(out, text, record);
}

audit_log::audit_log(boost::asio::any_io_executor executor, const clock_source& clock,
                     uid_t daemon_uid)
    : flush_timer_(std::move(executor)), clock_(clock), daemon_uid_(daemon_uid) {}

audit_log::~audit_log() {
  try {
    flush();
  } catch (...) {
    // A destructor must not throw; the lines are lost either way.
  }
}

std::string audit_log::configure(std::optional<std::filesystem::path> target) {
  flush();  // what was recorded goes where it was meant to
  target_ = std::move(target);
  to_daemon_log_ = target_ && *target_ == daemon_log;
  if (!target_ || to_daemon_log_) {
    file_.reset();
    open_path_.clear();
    open_problem_.clear();
    return {};
  }
  auto opened = platform::open_append_file(*target_, daemon_uid_);
  if (auto* fd = std::get_if<unique_fd>(&opened)) {
    file_ = std::move(*fd);
    open_path_ = *target_;
    open_problem_.clear();
    broken_line_ = false;
    return {};
  }
  const auto& why = std::get<std::string>(opened);
  std::string message = "audit_log: " + why;
  if (file_.get() >= 0) {
    message += "; still writing to " + open_path_.string();
  } else {
    open_problem_ = why;
    message += "; audit lines are lost (counted in actoken_audit_errors_total) until a reload";
  }
  spdlog::error("{}", message);
  return message;
}

void audit_log::record(const audit_record& record) {
  if (!target_) return;
  if (to_daemon_log_) {
    std::string line = "audit ";  // to find the lines among the others
    append_line(line, now_text(), record);
    line.pop_back();  // the logger ends the line
    write_to_daemon_log(line);
    return;
  }
  append_line(pending_, now_text(), record);
  if (pending_.size() >= flush_threshold) {
    flush();
  } else {
    schedule_flush();
  }
}

std::string_view audit_log::now_text() {
  // Formatted once a second, not once a line.
  const auto second = std::chrono::floor<std::chrono::seconds>(clock_.wall_now());
  if (second != at_second_ || at_text_.empty()) {
    at_second_ = second;
    at_text_.clear();
    append_rfc3339(at_text_, second);
  }
  return at_text_;
}

void audit_log::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // One write for every line recorded until then; a flush before (a reload,
  // 64 KiB) leaves this one nothing or little to do.
  flush_timer_.expires_after(flush_delay);
  flush_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the log is going away
    flush_scheduled_ = false;
    flush();
  });
}

void audit_log::flush() {
  if (pending_.empty()) return;
  if (file_.get() < 0) {
    lost(lines_in(pending_), open_problem_.empty() ? "no file is open" : open_problem_);
    pending_.clear();
    return;
  }
  if (broken_line_) pending_.insert(pending_.begin(), '\n');
  std::size_t written = 0;
  const int error = platform::append_all(file_.get(), pending_, written);
  if (error != 0) {
    // A line cut short counts as lost; the next write starts a new line.
    const std::string_view rest = std::string_view(pending_).substr(written);
    if (written > 0) broken_line_ = pending_[written - 1] != '\n';
    lost(lines_in(rest),
         "cannot write " + open_path_.string() + ": " + std::generic_category().message(error));
  } else {
    broken_line_ = false;
  }
  pending_.clear();
  if (pending_.capacity() > 4 * flush_threshold) pending_.shrink_to_fit();
}

void audit_log::lost(std::size_t lines, const std::string& why) {
  if (lines == 0) return;
  errors_ += lines;
  const auto now = clock_.mono_now();
  if (last_warning_ && now - *last_warning_ < warning_interval) return;
  last_warning_ = now;
  spdlog::error(
      "audit log: {} lines lost: {} (counted in actoken_audit_errors_total; reported "
      "at most once a minute)",
      lines, why);
}

void audit_log::write_to_daemon_log(std::string_view line) {
  // The audit trail does not depend on log_level: straight to the logger's
  // sinks, at info.
  auto* logger = spdlog::default_logger_raw();
  const spdlog::details::log_msg message(logger->name(), spdlog::level::info,
                                         spdlog::string_view_t(line.data(), line.size()));
  try {
    for (const auto& sink : logger->sinks()) {
      sink->log(message);
      sink->flush();
    }
  } catch (const std::exception& e) {
    lost(1, std::string("cannot write to the daemon's log: ") + e.what());
  }
}

}  // namespace actoken
