// Config file text -> parse_config (daemon/settings/config.hpp), in system mode and in
// user mode with $CREDENTIALS_DIRECTORY set.
//
// Properties: nothing crashes or throws; the answer is a config or a non-empty
// list of problems, each rendering as a non-empty `file: key: reason`; a
// config honours what SPEC §2 promises of it (valid organization names, GUIDs
// in lower case, absolute key files, the 0600 socket bits, bounded durations).
#include "common/names.hpp"
#include "daemon/settings/config.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string_view>
#include <variant>

namespace {

using namespace actoken;

const char* fake_env(const char* name) {
  const std::string_view n(name);
  if (n == "XDG_CONFIG_HOME") return "/home/dev/.config";
  if (n == "XDG_RUNTIME_DIR") return "/run/user/1000";
  if (n == "HOME") return "/home/dev";
  return nullptr;
}

config_context system_context() {
  config_context context;
  context.file = "/etc/actoken/actokend.json";
  context.defaults = defaults_for(run_mode::system, fake_env, 0);
  return context;
}

config_context user_context() {
  config_context context;
  context.file = "/home/dev/.config/actoken/actokend.json";
  context.defaults = defaults_for(run_mode::user, fake_env, 1000);
  context.credentials_dir = "/run/credentials/actokend.service";
  return context;
}

bool lower_case_guid(const std::string& text) {
  if (!is_guid(text)) return false;
  for (const char c : text) {
    if (std::isupper(static_cast<unsigned char>(c)) != 0) return false;
  }
  return true;
}

void check_principals(const principal_set& set) {
  for (const auto& name : set.user_names) ACTOKEN_FUZZ_CHECK(!name.empty(), "an empty user name");
  for (const auto& name : set.group_names) {
    ACTOKEN_FUZZ_CHECK(!name.empty(), "an empty group name");
  }
}

void check_config(const config& cfg) {
  ACTOKEN_FUZZ_CHECK((cfg.socket_mode & 0600U) == 0600U, "a socket_mode without 0600");
  ACTOKEN_FUZZ_CHECK(cfg.socket_mode <= 07777U, "a socket_mode beyond 07777");
  ACTOKEN_FUZZ_CHECK(cfg.socket.is_absolute(), "a relative socket path");
  ACTOKEN_FUZZ_CHECK(cfg.key_dir.is_absolute(), "a relative key_dir");
  ACTOKEN_FUZZ_CHECK(cfg.auth_url.starts_with("https://"), "an auth_url that is not https");
  ACTOKEN_FUZZ_CHECK(cfg.upstream_timeout.count() >= 1 && cfg.upstream_timeout.count() <= 86400,
                     "upstream_timeout out of range");
  ACTOKEN_FUZZ_CHECK(cfg.default_token_ttl.count() >= 1 && cfg.default_token_ttl.count() <= 86400,
                     "default_token_ttl out of range");
  for (const auto d : {cfg.min_ttl, cfg.refresh_before, cfg.retry_rejected_after}) {
    ACTOKEN_FUZZ_CHECK(d.count() >= 0 && d.count() <= 86400, "a duration out of range");
  }
  ACTOKEN_FUZZ_CHECK(cfg.max_exchanges_per_minute >= 1, "max_exchanges_per_minute of 0");
  ACTOKEN_FUZZ_CHECK(cfg.max_connections >= 1, "max_connections of 0");
  ACTOKEN_FUZZ_CHECK(!cfg.default_org || is_valid_org_name(*cfg.default_org),
                     "an invalid default_org");
  ACTOKEN_FUZZ_CHECK(!cfg.socket_group || !cfg.socket_group->empty(), "an empty socket_group");
  check_principals(cfg.admin);
  check_principals(cfg.allow);
  for (const auto& [name, org] : cfg.organizations) {
    ACTOKEN_FUZZ_CHECK(is_valid_org_name(name), "an invalid organization name");
    ACTOKEN_FUZZ_CHECK(!org.key_file || org.key_file->is_absolute(), "a relative key_file");
    ACTOKEN_FUZZ_CHECK(!org.auth_url || org.auth_url->starts_with("https://"),
                       "an organization auth_url that is not https");
    if (org.allow) check_principals(*org.allow);
    for (const auto& [alias, sub] : org.sub_organizations.entries()) {
      ACTOKEN_FUZZ_CHECK(is_valid_org_name(alias), "an invalid sub-organization alias");
      ACTOKEN_FUZZ_CHECK(!is_guid(alias), "a sub-organization alias in GUID form");
      ACTOKEN_FUZZ_CHECK(lower_case_guid(sub.id), "a sub-organization id not a lower-case GUID");
      if (sub.allow) check_principals(*sub.allow);
      // One GUID, one entry: found by alias and by id alike.
      const auto* by_id = org.sub_organizations.by_id(sub.id);
      ACTOKEN_FUZZ_CHECK(by_id != nullptr && by_id->id == sub.id, "a listed GUID not found by id");
      ACTOKEN_FUZZ_CHECK(by_id->allow.has_value() == sub.allow.has_value(),
                         "a GUID listed twice, with an allow and without");
    }
  }
}

void check(const config_result& result) {
  if (const auto* cfg = std::get_if<config>(&result)) {
    check_config(*cfg);
    return;
  }
  const auto& problems = std::get<std::vector<config_problem>>(result);
  ACTOKEN_FUZZ_CHECK(!problems.empty(), "neither a config nor a problem");
  for (const auto& problem : problems) {
    // (The key may be "": a config can hold an empty key, reported as unknown.)
    ACTOKEN_FUZZ_CHECK(!problem.reason.empty(), "a problem without a reason");
    ACTOKEN_FUZZ_CHECK(!problem.to_string().empty(), "a problem that renders empty");
  }
}

const config_context& system_mode() {
  static const config_context context = system_context();
  return context;
}

const config_context& user_mode() {
  static const config_context context = user_context();
  return context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    check(parse_config(text, system_mode()));
    check(parse_config(text, user_mode()));
  } catch (const std::exception& e) {
    fuzz::fail(__FILE__, __LINE__, "parse_config threw", e.what());
  }
  return 0;
}
