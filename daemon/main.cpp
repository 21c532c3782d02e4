// actokend: parse flags, load the config, set up logging, run. Nothing else.

#include "common/paths.hpp"
#include "common/version.hpp"
#include "daemon/app.hpp"
#include "daemon/platform/process.hpp"
#include "daemon/platform/secure_memory.hpp"
#include "daemon/platform/service_manager.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

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

}  // namespace

int main(int argc, char** argv) {
  // Before anything else (and before any thread exists): no core dumps, no
  // SIGPIPE, a restrictive umask, and all the descriptors we may have.
  actoken::platform::disable_core_dumps();
  actoken::platform::ignore_sigpipe();
  ::umask(077);
  actoken::platform::raise_open_file_limit();

  CLI::App cli{"actokend: holds Appcircle access keys and serves tokens on a Unix socket",
               "actokend"};
  bool system_mode = false;
  bool user_mode = false;
  bool check_config = false;
  bool show_version = false;
  std::string config_path;
  std::string socket_path;
  std::string log_level;
  auto* system_flag =
      cli.add_flag("--system", system_mode, "serve the whole host (default for root)");
  cli.add_flag("--user", user_mode, "serve the current user (default otherwise)")
      ->excludes(system_flag);
  cli.add_option("--config", config_path, "config file (default by mode, or $ACTOKEND_CONFIG)");
  cli.add_option("--socket", socket_path, "socket path (overrides the config)");
  cli.add_option("--log-level", log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  cli.add_flag("--check-config", check_config, "validate the config, print problems, exit 0 or 1");
  cli.add_flag("--version", show_version, "print the version and exit");
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (show_version) {
    std::cout << "actokend " << actoken::version << '\n';
    return 0;
  }

  actoken::startup_options options;
  const auto uid = ::geteuid();
  options.mode = (system_mode || (uid == 0 && !user_mode)) ? actoken::run_mode::system
                                                           : actoken::run_mode::user;
  const auto env = actoken::process_env();
  options.context.defaults = actoken::defaults_for(options.mode, env, uid);
  if (const char* credentials = std::getenv("CREDENTIALS_DIRECTORY")) {
    options.context.credentials_dir = credentials;
  }
  if (!config_path.empty()) {
    options.config_path = config_path;
    options.config_explicit = true;
  } else if (const char* from_env = std::getenv("ACTOKEND_CONFIG"); from_env && *from_env) {
    options.config_path = from_env;
    options.config_explicit = true;
  } else {
    options.config_path = options.context.defaults.config;
  }
  options.context.file = options.config_path;
  if (!socket_path.empty()) options.socket_override = socket_path;
  if (!log_level.empty()) options.log_level_override = log_level;

  auto loaded = actoken::load_startup_config(options);
  if (auto* problems = std::get_if<std::vector<actoken::config_problem>>(&loaded)) {
    for (const auto& p : *problems) std::cerr << p.to_string() << '\n';
    return 1;
  }
  if (check_config) {
    std::cout << options.config_path.string() << ": ok\n";
    return 0;
  }
  auto cfg = std::get<actoken::config>(std::move(loaded));
  setup_logging(options.log_level_override.value_or(cfg.log_level));
  try {
    return actoken::run_daemon(options, std::move(cfg));
  } catch (const std::exception& e) {
    spdlog::critical("actokend stopped: {}", e.what());
    return 1;
  }
}
