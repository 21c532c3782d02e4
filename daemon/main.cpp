// actokend: parse flags, load the config, set up logging, run. Nothing else.

#include "common/paths.hpp"
#include "common/version.hpp"
#include "daemon/app.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/platform/process.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/platform/service_manager.hpp"
#include "daemon/startup/config_check.hpp"
#include "daemon/startup/daemon_args.hpp"
#include "daemon/startup/detach.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>

namespace {

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_logger_st("actokend");
  // The journal stamps each line itself.
  logger->set_pattern(actoken::platform::stderr_is_journal() ? "%l: %v"
                                                             : "%Y-%m-%dT%H:%M:%S.%e %l: %v");
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

// True when nothing exists at `path` (or a folder on the way is not one).
bool names_nothing(const std::filesystem::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) != 0 && (errno == ENOENT || errno == ENOTDIR);
}

// Before anything else (and before any thread exists): no core dumps, no
// SIGPIPE, a restrictive umask, and all the descriptors we may have.
void harden_process() {
  actoken::platform::disable_core_dumps();
  actoken::platform::ignore_sigpipe();
  actoken::platform::ignore_file_size_signal();
  ::umask(077);
  actoken::platform::raise_open_file_limit();
}

// --help and --version: answered without reading anything.
std::optional<int> answer_at_once(const actoken::daemon_args& args) {
  if (args.show_help) {
    std::fwrite(actoken::daemon_usage().data(), 1, actoken::daemon_usage().size(), stdout);
    return 0;
  }
  if (args.show_version) {
    std::printf("actokend %.*s\n", static_cast<int>(actoken::version.size()),
                actoken::version.data());
    return 0;
  }
  return std::nullopt;
}

// The config path: --config, else $ACTOKEND_CONFIG, else the mode's default.
void choose_config_path(const actoken::daemon_args& args, actoken::startup_options& options) {
  if (!args.config_path.empty()) {
    options.config_path = args.config_path;
    options.config_explicit = true;
  } else if (const char* from_env = std::getenv("ACTOKEND_CONFIG"); from_env && *from_env) {
    options.config_path = from_env;
    options.config_explicit = true;
  } else {
    options.config_path = options.context.defaults.config;
  }
}

// Flags and environment resolved (SPEC §2 precedence); nullopt after a line on stderr.
std::optional<actoken::startup_options> resolve_options(const actoken::daemon_args& args,
                                                        uid_t uid) {
  actoken::startup_options options;
  options.mode = args.mode.value_or(uid == 0 ? actoken::run_mode::system : actoken::run_mode::user);
  options.context.defaults = actoken::defaults_for(options.mode, actoken::process_env(), uid);
  if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY")) {
    options.context.credentials_dir = credentials;
  }
  choose_config_path(args, options);
  // A config path that names nothing may be something pasted by mistake (a key):
  // say where it came from, never what it was. An existing path is named as usual.
  if (options.config_explicit && names_nothing(options.config_path)) {
    std::fprintf(stderr, "actokend: the config file %s does not exist\n",
                 args.config_path.empty() ? "named by $ACTOKEND_CONFIG" : "given with --config");
    return std::nullopt;
  }
  if (!args.socket_path.empty()) options.socket_override = args.socket_path;
  if (!args.log_level.empty()) options.log_level_override = args.log_level;
  // A detached daemon works in `/`: what the command line named relative to
  // the caller's folder is made absolute first (paths in the config follow
  // the config's own folder).
  if (args.detach) {
    options.config_path = std::filesystem::absolute(options.config_path);
    if (options.socket_override) {
      options.socket_override = std::filesystem::absolute(*options.socket_override);
    }
  }
  options.context.file = options.config_path;
  return options;
}

// --check-config: the problems on stderr, exit 0 or 1.
int run_config_check(const actoken::config& cfg, const actoken::startup_options& options,
                     uid_t uid) {
  // Judged for the uid running the check; root checking the system config
  // does not know the daemon's user (the unit's `actoken`): then the mode only.
  const auto daemon_uid =
      uid == 0 && options.mode == actoken::run_mode::system ? actoken::platform::any_owner : uid;
  spdlog::set_level(spdlog::level::off);  // the problems below say it all, once
  const auto problems = actoken::check_config(cfg, options.config_path, daemon_uid);
  for (const auto& p : problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
  if (!problems.empty()) return 1;
  std::printf("%s: ok\n", options.config_path.c_str());
  return 0;
}

// What --detach needs: the socket, the shell, the log, whom to trust.
actoken::detach_request detach_request_of(const actoken::daemon_args& args,
                                          const actoken::config& cfg, uid_t uid) {
  actoken::detach_request request;
  request.socket = std::filesystem::absolute(cfg.socket);
  const char* shell = std::getenv("SHELL");
  request.shell = args.shell.value_or(actoken::shell_from_path(shell == nullptr ? "" : shell));
  request.log_file = actoken::user_state_dir(actoken::process_env(), uid) / "actokend.log";
  request.trusted = {uid, 0};
  std::string ignored;
  if (const auto system_daemon = actoken::platform::lookup_user("actoken", ignored)) {
    request.trusted.push_back(*system_daemon);
  }
  return request;
}

// Runs the daemon until it is told to stop.
int serve(const actoken::startup_options& options, actoken::config cfg) {
  setup_logging(options.log_level_override.value_or(cfg.log_level));
  // Once, at the first secret that could not be locked (SPEC §6); also in /v1/status.
  actoken::platform::on_secure_memory_failure([](const std::string& reason) {
    spdlog::warn(
        "secure memory: {}; keys may reach swap or a core dump (raise RLIMIT_MEMLOCK, e.g. "
        "LimitMEMLOCK= in the unit)",
        reason);
  });
  // Known before any key arrives, so /v1/status never says "locked" for nothing.
  actoken::platform::probe_secure_memory();
  try {
    return actoken::run_daemon(options, std::move(cfg));
  } catch (const std::exception& e) {
    spdlog::critical("actokend stopped: {}", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  harden_process();
  const auto parsed =
      actoken::parse_daemon_args({argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)});
  if (const auto* error = std::get_if<actoken::daemon_usage_error>(&parsed)) {
    std::fprintf(stderr, "actokend: %s\nRun with --help for more information.\n",
                 error->message.c_str());
    return 2;
  }
  const auto& args = std::get<actoken::daemon_args>(parsed);
  if (const auto code = answer_at_once(args)) return *code;

  const auto uid = ::geteuid();
  auto options = resolve_options(args, uid);
  if (!options) return 1;
  auto loaded = actoken::load_startup_config(*options);
  if (auto* problems = std::get_if<std::vector<actoken::config_problem>>(&loaded)) {
    for (const auto& p : *problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
    return 1;
  }
  auto cfg = std::get<actoken::config>(std::move(loaded));
  if (args.check_config) return run_config_check(cfg, *options, uid);
  if (args.detach) {
    // Here the caller's process either ends (a daemon answers) or becomes the daemon.
    auto outcome = actoken::detach(detach_request_of(args, cfg, uid));
    if (outcome.exit_code) return *outcome.exit_code;
    options->on_start = std::move(outcome.report);
  }
  return serve(*options, std::move(cfg));
}
