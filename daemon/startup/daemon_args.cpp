#include "daemon/startup/daemon_args.hpp"

#include "common/option_name.hpp"

#include <array>

namespace actoken {
namespace {

constexpr std::array log_levels{"trace", "debug", "info", "warn", "error"};

bool is_log_level(std::string_view level) noexcept {
  for (const std::string_view name : log_levels) {
    if (level == name) return true;
  }
  return false;
}

std::optional<shell_syntax> shell_named(std::string_view name) noexcept {
  if (name == "sh") return shell_syntax::sh;
  if (name == "csh") return shell_syntax::csh;
  if (name == "fish") return shell_syntax::fish;
  return std::nullopt;
}

// What the flags say together, once all are read.
std::optional<daemon_usage_error> combination_error(const daemon_args& args) {
  if (args.shell && !args.detach) return daemon_usage_error{"--shell needs --detach"};
  if (args.detach && args.check_config) {
    return daemon_usage_error{"--detach and --check-config exclude each other"};
  }
  return std::nullopt;
}

}  // namespace

std::string_view daemon_usage() noexcept {
  return "actokend: holds Appcircle access keys and serves tokens on a Unix socket\n"
         "\n"
         "Usage: actokend [--system|--user] [--config PATH] [--socket PATH]\n"
         "                [--log-level trace|debug|info|warn|error] [--check-config]\n"
         "                [--detach [--shell sh|csh|fish]] [--version] [--help]\n"
         "\n"
         "Options:\n"
         "  --system             serve the whole host (default for root)\n"
         "  --user               serve the current user (default otherwise)\n"
         "  --config PATH        config file (default by mode, or $ACTOKEND_CONFIG)\n"
         "  --socket PATH        socket path (overrides the config)\n"
         "  --log-level LEVEL    trace, debug, info, warn or error\n"
         "  --check-config       validate the config (and run key_commands), print\n"
         "                       problems, exit 0 or 1\n"
         "  --detach             start in the background unless a daemon already answers\n"
         "                       on the socket, then print the line that sets\n"
         "                       ACTOKEN_SOCKET: eval \"$(actokend --detach)\"\n"
         "  --shell SHELL        with --detach: sh, csh or fish (default: from $SHELL)\n"
         "  --version            print the version and exit\n"
         "  -h, --help           print this help and exit\n";
}

namespace {

using maybe_error = std::optional<daemon_usage_error>;

// One pass over the arguments; each step reads one option (and its value).
class arg_reader {
 public:
  explicit arg_reader(std::span<const char* const> args) : args_(args) {}

  std::variant<daemon_args, daemon_usage_error> read() {
    for (; i_ < args_.size(); ++i_) {
      split(args_[i_]);
      if (auto error = one()) return *std::move(error);
    }
    if (auto error = combination_error(out_)) return *std::move(error);
    return out_;
  }

 private:
  // `--name=value` into its name and value.
  void split(std::string_view arg) {
    arg_ = arg;
    inline_value_.reset();
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value_ = arg.substr(eq + 1);
      arg_ = arg.substr(0, eq);
    }
  }

  maybe_error one() {
    if (arg_ == "--system") return mode(run_mode::system);
    if (arg_ == "--user") return mode(run_mode::user);
    if (arg_ == "--config") return option(out_.config_path);
    if (arg_ == "--socket") return option(out_.socket_path);
    if (arg_ == "--log-level") return log_level();
    if (arg_ == "--check-config") return flag(out_.check_config);
    if (arg_ == "--detach") return flag(out_.detach);
    if (arg_ == "--shell") return shell();
    if (arg_ == "--version") return flag(out_.show_version);
    if (arg_ == "--help" || arg_ == "-h") return flag(out_.show_help);
    if (arg_.starts_with("-")) {
      // Named only when it looks like an option: "-" and a pasted key must not be printed.
      const auto name = printable_option_name(arg_);
      return daemon_usage_error{name ? "unknown option " + std::string(*name) : "unknown option"};
    }
    // Not echoed: a stray argument may be something pasted by mistake (a key).
    return daemon_usage_error{"actokend takes no arguments besides options"};
  }

  // A flag takes no value; an option takes exactly one.
  maybe_error flag(bool& target) {
    if (inline_value_) return daemon_usage_error{std::string(arg_) + " takes no value"};
    target = true;
    return std::nullopt;
  }

  maybe_error option(std::string& target) {
    if (inline_value_) {
      target = *inline_value_;
    } else if (i_ + 1 < args_.size() && !std::string_view{args_[i_ + 1]}.starts_with("--")) {
      target = args_[++i_];
    } else {
      return daemon_usage_error{std::string(arg_) + " needs a value"};
    }
    if (target.empty()) return daemon_usage_error{std::string(arg_) + " needs a value"};
    return std::nullopt;
  }

  maybe_error mode(run_mode m) {
    bool given = false;
    if (auto error = flag(given)) return error;
    if (out_.mode && *out_.mode != m) {
      return daemon_usage_error{"--system and --user exclude each other"};
    }
    out_.mode = m;
    return std::nullopt;
  }

  maybe_error log_level() {
    if (auto error = option(out_.log_level)) return error;
    if (!is_log_level(out_.log_level)) {
      return daemon_usage_error{"--log-level must be one of trace, debug, info, warn, error"};
    }
    return std::nullopt;
  }

  maybe_error shell() {
    std::string name;
    if (auto error = option(name)) return error;
    out_.shell = shell_named(name);
    if (!out_.shell) return daemon_usage_error{"--shell must be one of sh, csh, fish"};
    return std::nullopt;
  }

  std::span<const char* const> args_;
  std::size_t i_ = 0;
  std::string_view arg_;
  std::optional<std::string_view> inline_value_;
  daemon_args out_;
};

}  // namespace

std::variant<daemon_args, daemon_usage_error> parse_daemon_args(std::span<const char* const> args) {
  return arg_reader(args).read();
}

}  // namespace actoken
