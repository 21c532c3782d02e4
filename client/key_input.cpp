#include "client/key_input.hpp"

#include <nlohmann/json.hpp>

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace actoken::client {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// The terminal state to put back from a signal handler. Only one key is read per
// process, so one slot is enough.
int saved_tty_fd = -1;
termios saved_tty{};

extern "C" void restore_tty_and_reraise(int signal_number) {
  if (saved_tty_fd >= 0) {
    ::tcsetattr(saved_tty_fd, TCSANOW, &saved_tty);
  }
  // SA_RESETHAND put the default action back: re-raising ends the process as the
  // signal would have.
  ::raise(signal_number);
}

// Turns echo off on a terminal for its lifetime; restores it on every way out,
// including the usual terminating signals.
class echo_off {
 public:
  explicit echo_off(int fd) {
    if (::tcgetattr(fd, &saved_tty) != 0) {
      return;
    }
    saved_tty_fd = fd;
    struct sigaction action {};
    action.sa_handler = restore_tty_and_reraise;
    sigemptyset(&action.sa_mask);
    action.sa_flags = static_cast<int>(SA_RESETHAND);
    for (std::size_t i = 0; i < signals_.size(); ++i) {
      ::sigaction(signals_[i], &action, &previous_[i]);
    }
    termios quiet = saved_tty;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;  // still move to a new line when Enter is pressed
    active_ = ::tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
  }
  echo_off(const echo_off&) = delete;
  echo_off& operator=(const echo_off&) = delete;
  ~echo_off() {
    if (saved_tty_fd < 0) {
      return;
    }
    ::tcsetattr(saved_tty_fd, TCSANOW, &saved_tty);
    for (std::size_t i = 0; i < signals_.size(); ++i) {
      ::sigaction(signals_[i], &previous_[i], nullptr);
    }
    saved_tty_fd = -1;
  }
  bool active() const noexcept { return active_; }

 private:
  static constexpr std::array<int, 4> signals_{SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  std::array<struct sigaction, 4> previous_{};
  bool active_ = false;
};

// Reads into `key` until a newline (`one_line`) or end of input. Errors are
// messages; the key never appears in them.
std::optional<std::string> read_into(int fd, bool one_line, secret_buffer& key) {
  for (;;) {
    if (key.room() == 0) {
      return "the key is longer than " + std::to_string(max_key_size) + " bytes";
    }
    const auto got = ::read(fd, key.spare(), key.room());
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return std::string("cannot read the key from stdin: ") + std::strerror(errno);
    }
    if (got == 0) {
      return std::nullopt;
    }
    const auto fresh = std::string_view(key.spare(), static_cast<std::size_t>(got));
    key.commit(static_cast<std::size_t>(got));
    if (one_line && fresh.find('\n') != std::string_view::npos) {
      return std::nullopt;
    }
  }
}

void append_json_string(secret_buffer& body, std::string_view text, bool& fits) {
  constexpr std::string_view hex = "0123456789abcdef";
  fits = fits && body.append("\"");
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      const std::array<char, 2> escaped{'\\', c};
      fits = fits && body.append(std::string_view(escaped.data(), escaped.size()));
    } else if (byte < 0x20) {
      const std::array<char, 6> escaped{'\\', 'u', '0', '0', hex[byte >> 4U], hex[byte & 0xFU]};
      fits = fits && body.append(std::string_view(escaped.data(), escaped.size()));
    } else {
      fits = fits && body.append(std::string_view(&c, 1));
    }
  }
  fits = fits && body.append("\"");
}

// A non-secret string as JSON; invalid UTF-8 is replaced rather than thrown on.
std::string to_json_string(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

secret_buffer::secret_buffer(std::size_t capacity)
    : data_(new char[capacity == 0 ? 1 : capacity]()), capacity_(capacity) {
  // Keep the secret out of swap when the memlock limit allows; it is small.
  locked_ = capacity_ > 0 && ::mlock(data_.get(), capacity_) == 0;
}

secret_buffer::~secret_buffer() {
  ::explicit_bzero(data_.get(), capacity_);
  if (locked_) {
    ::munlock(data_.get(), capacity_);
  }
}

bool secret_buffer::append(std::string_view text) {
  if (text.size() > room()) {
    return false;
  }
  std::memcpy(spare(), text.data(), text.size());
  size_ += text.size();
  return true;
}

void secret_buffer::commit(std::size_t n) noexcept { size_ += n <= room() ? n : room(); }

void secret_buffer::trim() noexcept {
  std::size_t begin = 0;
  while (begin < size_ && is_space(data_[begin])) {
    ++begin;
  }
  std::size_t end = size_;
  while (end > begin && is_space(data_[end - 1])) {
    --end;
  }
  const std::size_t length = end - begin;
  if (begin > 0 && length > 0) {
    std::memmove(data_.get(), data_.get() + begin, length);
  }
  ::explicit_bzero(data_.get() + length, size_ - length);
  size_ = length;
}

void secret_buffer::clear() noexcept {
  ::explicit_bzero(data_.get(), size_);
  size_ = 0;
}

void protect_process_memory() noexcept {
#ifdef __linux__
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

std::optional<std::string> read_key(int fd, std::ostream& prompt, std::string_view org,
                                    secret_buffer& key) {
  key.clear();
  std::optional<std::string> error;
  const bool terminal = ::isatty(fd) == 1;
  if (terminal) {
    prompt << "Access key for " << org << " (input hidden): " << std::flush;
    const echo_off guard(fd);
    error = read_into(fd, true, key);
    if (!guard.active() || key.empty() || key.view().back() != '\n') {
      prompt << '\n' << std::flush;  // Enter was not echoed (end of input, or echo stayed on)
    }
  } else {
    error = read_into(fd, false, key);
  }
  if (error) {
    key.clear();
    return error;
  }
  key.trim();
  if (key.empty()) {
    if (terminal) {
      return std::string("no key entered");
    }
    return "no key on stdin (pipe it in, e.g. `actoken key add " + std::string(org) + " < FILE`)";
  }
  for (const char c : key.view()) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7f) {
      key.clear();
      return std::string("the key must be one line without spaces or control characters");
    }
  }
  return std::nullopt;
}

bool build_key_body(std::string_view key, const key_settings& settings, secret_buffer& body) {
  body.clear();
  bool fits = body.append("{\"key\":");
  append_json_string(body, key, fits);
  // The other fields are not secret: let nlohmann escape them.
  if (settings.auth_url) {
    fits = fits && body.append(",\"auth_url\":") && body.append(to_json_string(*settings.auth_url));
  }
  if (settings.api_version) {
    fits = fits && body.append(",\"api_version\":") &&
           body.append(to_json_string(*settings.api_version));
  }
  if (!settings.persist) {
    fits = fits && body.append(",\"persist\":false");
  }
  if (settings.verify) {
    fits = fits && body.append(",\"verify\":true");
  }
  fits = fits && body.append("}");
  if (!fits) {
    body.clear();
  }
  return fits;
}

}  // namespace actoken::client
