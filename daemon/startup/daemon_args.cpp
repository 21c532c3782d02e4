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

}  // namespace

std::string_view daemon_usage() noexcept {
  return "actokend: holds Appcircle access keys and serves tokens on a Unix socket\n"
         "\n"
         "Usage: actokend [--system|--user] [--config PATH] [--socket PATH]\n"
         "                [--log-level trace|debug|info|warn|error] [--check-config]\n"
         "                [--version] [--help]\n"
         "\n"
         "Options:\n"
         "  --system             serve the whole host (default for root)\n"
         "  --user               serve the current user (default otherwise)\n"
         "  --config PATH        config file (default by mode, or $ACTOKEND_CONFIG)\n"
         "  --socket PATH        socket path (overrides the config)\n"
         "  --log-level LEVEL    trace, debug, info, warn or error\n"
         "  --check-config       validate the config, print problems, exit 0 or 1\n"
         "  --version            print the version and exit\n"
         "  -h, --help           print this help and exit\n";
}

std::variant<daemon_args, daemon_usage_error> parse_daemon_args(std::span<const char* const> args) {
  daemon_args out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg{args[i]};
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }

    // A flag takes no value; an option takes exactly one.
    const auto flag = [&](bool& target) -> std::optional<daemon_usage_error> {
      if (inline_value) return daemon_usage_error{std::string(arg) + " takes no value"};
      target = true;
      return std::nullopt;
    };
    const auto option = [&](std::string& target) -> std::optional<daemon_usage_error> {
      if (inline_value) {
        target = *inline_value;
      } else if (i + 1 < args.size() && !std::string_view{args[i + 1]}.starts_with("--")) {
        target = args[++i];
      } else {
        return daemon_usage_error{std::string(arg) + " needs a value"};
      }
      if (target.empty()) return daemon_usage_error{std::string(arg) + " needs a value"};
      return std::nullopt;
    };
    const auto mode = [&](run_mode m) -> std::optional<daemon_usage_error> {
      bool given = false;
      if (auto error = flag(given)) return error;
      if (out.mode && *out.mode != m) {
        return daemon_usage_error{"--system and --user exclude each other"};
      }
      out.mode = m;
      return std::nullopt;
    };

    std::optional<daemon_usage_error> error;
    if (arg == "--system") {
      error = mode(run_mode::system);
    } else if (arg == "--user") {
      error = mode(run_mode::user);
    } else if (arg == "--config") {
      error = option(out.config_path);
    } else if (arg == "--socket") {
      error = option(out.socket_path);
    } else if (arg == "--log-level") {
      error = option(out.log_level);
      if (!error && !is_log_level(out.log_level)) {
        error = daemon_usage_error{"--log-level must be one of trace, debug, info, warn, error"};
      }
    } else if (arg == "--check-config") {
      error = flag(out.check_config);
    } else if (arg == "--version") {
      error = flag(out.show_version);
    } else if (arg == "--help" || arg == "-h") {
      error = flag(out.show_help);
    } else if (arg.starts_with("-")) {
      // Named only when it looks like an option: "-" and a pasted key must not be printed.
      const auto name = printable_option_name(arg);
      error = daemon_usage_error{name ? "unknown option " + std::string(*name) : "unknown option"};
    } else {
      // Not echoed: a stray argument may be something pasted by mistake (a key).
      error = daemon_usage_error{"actokend takes no arguments besides options"};
    }
    if (error) return *std::move(error);
  }
  return out;
}

}  // namespace actoken
