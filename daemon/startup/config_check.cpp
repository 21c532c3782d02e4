#include "daemon/startup/config_check.hpp"

#include "daemon/keys/key_command.hpp"
#include "daemon/keys/org_table.hpp"
#include "daemon/outputs/cache_file.hpp"
#include "daemon/platform/append_file.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/upstream/tls_context.hpp"

#include <boost/asio/io_context.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>

namespace actoken {
namespace {

// The cache file: its folder must exist, pass the walk (SPEC §6) and take
// the daemon's new files; a file already there must pass the read-back
// checks (else it is neither read nor ever overwritten). The same reasons as
// the running daemon's `/v1/status`.
std::string cache_file_problem(const std::filesystem::path& path, uid_t daemon_uid) {
  if (auto refused = persist::cache_file_problem(path, daemon_uid); !refused.empty()) {
    return refused;
  }
  // Not refused: it may still be missing, which the daemon would say at its first write.
  const auto walked =
      platform::walk_to_folder(platform::folder_of(path), {.daemon_uid = daemon_uid});
  if (!walked.ok()) return "cache file " + path.string() + ": " + walked.problem;
  // Whether another uid could write there cannot be asked of the kernel; the
  // running uid can (the usual case: the user checks their own daemon's config).
  if (daemon_uid == ::geteuid() && ::faccessat(walked.folder.get(), ".", W_OK | X_OK, 0) != 0) {
    return "folder " + platform::folder_of(path).string() +
           " is not writable: " + std::generic_category().message(errno);
  }
  return {};
}

// Each organization's key_command, run once as a start runs it (the same
// runs, in parallel, 10 s each): what each gave, by organization. The keys
// stay in locked memory and are dropped with the map.
std::map<std::string, command_key> run_key_commands(const config& cfg) {
  boost::asio::io_context io{1};
  std::vector<std::shared_ptr<key_command_run>> runs;
  for (const auto& [name, org] : cfg.organizations) {
    if (!org.key_command) continue;
    runs.push_back(std::make_shared<key_command_run>(io.get_executor(), name, *org.key_command));
    runs.back()->start([](const key_command_run&) {});
  }
  io.run();
  std::map<std::string, command_key> given;
  for (const auto& run : runs) {
    given[run->org()] = {run->result().key, run->result().problem, nullptr};
  }
  return given;
}

// Key files, `<org>.json` files and key_commands the daemon would refuse or
// that fail (a key_dir's own refusal is said once, by the caller). An
// organization without a key yet is fine: one can be added at run time.
void add_org_problems(const config& cfg, uid_t daemon_uid, const std::string& dir_problem,
                      const std::function<void(std::string, std::string)>& add) {
  for (const auto& [name, org] : load_org_table(cfg, {}, daemon_uid, run_key_commands(cfg))) {
    for (const auto& problem : org->problems) {
      if (problem == dir_problem) continue;
      const bool failed_command = org->source == key_source::command && problem == org->key_problem;
      add("organizations." + name,
          failed_command ? problem + "; " + std::string(key_command_hint) : problem);
    }
  }
}

}  // namespace

std::vector<config_problem> check_config(const config& cfg, const std::filesystem::path& file,
                                         uid_t daemon_uid) {
  std::vector<config_problem> problems;
  const auto add = [&](std::string key, std::string reason) {
    problems.push_back({file.string(), std::move(key), std::move(reason)});
  };
  const auto dir_problem = key_dir_problem(cfg.key_dir, daemon_uid);
  if (!dir_problem.empty()) add("key_dir", dir_problem);
  add_org_problems(cfg, daemon_uid, dir_problem, add);
  if (cfg.ca_file) {
    auto tls = upstream::make_tls_context(cfg.ca_file);
    if (const auto* reason = std::get_if<std::string>(&tls)) add("ca_file", *reason);
  }
  if (cfg.cache_file) {
    if (auto problem = cache_file_problem(*cfg.cache_file, daemon_uid); !problem.empty()) {
      add("cache_file", std::move(problem));
    }
  }
  // An audit file the daemon would refuse: it would run, but lose every line.
  if (cfg.audit_log && *cfg.audit_log != "-") {
    if (auto problem = platform::check_append_file(*cfg.audit_log, daemon_uid); !problem.empty()) {
      add("audit_log", std::move(problem));
    }
  }
  // Names that do not resolve: the daemon would run, but those entries match nobody.
  problems.insert(problems.end(), cfg.warnings.begin(), cfg.warnings.end());
  return problems;
}

}  // namespace actoken
