// actokend: parse flags, load the config, set up logging, run. Nothing else.

#include "common/paths.hpp"
#include "common/version.hpp"
#include "daemon/app.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/platform/process.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/platform/service_manager.hpp"
#include "daemon/startup/config_check.hpp"
#include "daemon/startup/daemon_args.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

}  // namespace

int main(int argc, char** argv) {
  // Before anything else (and before any thread exists): no core dumps, no
  // SIGPIPE, a restrictive umask, and all the descriptors we may have.
  actoken::platform::disable_core_dumps();
  actoken::platform::ignore_sigpipe();
  actoken::platform::ignore_file_size_signal();
  ::umask(077);
  actoken::platform::raise_open_file_limit();

  const auto parsed =
      actoken::parse_daemon_args({argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)});
  if (const auto* error = std::get_if<actoken::daemon_usage_error>(&parsed)) {
    std::fprintf(stderr, "actokend: %s\nRun with --help for more information.\n",
                 error->message.c_str());
    return 2;
  }
  const auto& args = std::get<actoken::daemon_args>(parsed);
  if (args.show_help) {
    std::fwrite(actoken::daemon_usage().data(), 1, actoken::daemon_usage().size(), stdout);
    return 0;
  }
  if (args.show_version) {
    std::printf("actokend %.*s\n", static_cast<int>(actoken::version.size()),
                actoken::version.data());
    return 0;
  }

  actoken::startup_options options;
  const auto uid = ::geteuid();
  options.mode = args.mode.value_or(uid == 0 ? actoken::run_mode::system : actoken::run_mode::user);
  const auto env = actoken::process_env();
  options.context.defaults = actoken::defaults_for(options.mode, env, uid);
  if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY")) {
    options.context.credentials_dir = credentials;
  }
  if (!args.config_path.empty()) {
    options.config_path = args.config_path;
    options.config_explicit = true;
  } else if (const char* from_env = std::getenv("ACTOKEND_CONFIG"); from_env && *from_env) {
    options.config_path = from_env;
    options.config_explicit = true;
  } else {
    options.config_path = options.context.defaults.config;
  }
  // A config path that names nothing may be something pasted by mistake (a key):
  // say where it came from, never what it was. An existing path is named as usual.
  if (options.config_explicit && names_nothing(options.config_path)) {
    std::fprintf(stderr, "actokend: the config file %s does not exist\n",
                 args.config_path.empty() ? "named by $ACTOKEND_CONFIG" : "given with --config");
    return 1;
  }
  options.context.file = options.config_path;
  if (!args.socket_path.empty()) options.socket_override = args.socket_path;
  if (!args.log_level.empty()) options.log_level_override = args.log_level;

  auto loaded = actoken::load_startup_config(options);
  if (auto* problems = std::get_if<std::vector<actoken::config_problem>>(&loaded)) {
    for (const auto& p : *problems) std::fprintf(stderr, "%s\n", p.to_string().c_str());
    return 1;
  }
  auto cfg = std::get<actoken::config>(std::move(loaded));
  if (args.check_config) {
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
