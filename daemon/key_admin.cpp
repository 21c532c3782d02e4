#include "daemon/key_admin.hpp"

#include <spdlog/spdlog.h>

#include <memory>

namespace actoken {

key_admin::key_admin(tokens::token_service& tokens, uid_t daemon_uid)
    : tokens_(tokens), daemon_uid_(daemon_uid) {}

void key_admin::load(const config& cfg, bool reload) {
  tokens_.set_orgs(load_org_table(cfg, runtime_keys_, daemon_uid_), reload);
}

std::optional<failure> key_admin::refuse_if_managed_by_config(const std::string& org) const {
  // The one rule: a key the config names with key_file is changed there.
  const auto settings = tokens_.find_org(org);
  if (!settings || !settings->config_key_file) return std::nullopt;
  return failure{
      errc::key_managed_by_config,
      "organization " + org + "'s key comes from the config's key_file; change it there"};
}

void key_admin::apply_change(const config& cfg, const std::string& org) {
  // Evicted first, so the change is seen (the cache file writer listens):
  // rebuilt first, the organization's new state would hold nothing to evict.
  tokens_.evict(org);
  load(cfg, /*reload=*/false);
}

std::optional<failure> key_admin::put(const config& cfg, const std::string& org,
                                      platform::secure_buffer key,
                                      std::optional<std::string> auth_url,
                                      std::optional<upstream::api_version> api_version,
                                      bool persist) {
  if (auto refused = refuse_if_managed_by_config(org)) return refused;
  auto shared = std::make_shared<const platform::secure_buffer>(std::move(key));
  if (persist) {
    try {
      persist_key(cfg.key_dir, org, *shared, auth_url, api_version);
    } catch (const std::exception& e) {
      spdlog::error("organization {}: cannot persist the key: {}", org, e.what());
      return failure{errc::internal_error, "organization " + org +
                                               ": the key could not be written to " +
                                               cfg.key_dir.string() + " (see the daemon's log)"};
    }
    runtime_keys_.erase(org);
  } else {
    runtime_keys_[org] = runtime_key{shared, auth_url, api_version};
  }
  apply_change(cfg, org);
  spdlog::info("organization {}: key {} ({})", org, persist ? "stored" : "added in memory",
               persist ? cfg.key_dir.string() : "ephemeral");
  return std::nullopt;
}

std::variant<std::shared_ptr<const org_settings>, failure> key_admin::trial(
    const config& cfg, const std::string& org, const platform::shared_key& key,
    const std::optional<std::string>& auth_url,
    const std::optional<upstream::api_version>& api_version) const {
  if (auto refused = refuse_if_managed_by_config(org)) return std::move(*refused);
  auto settings = std::make_shared<org_settings>(
      settings_with_key(cfg, org, runtime_key{key, auth_url, api_version}));
  if (!settings->server) {
    return failure{errc::bad_request,
                   "organization " + org + ": auth_url " + settings->auth_url + " is not usable"};
  }
  return settings;
}

std::optional<failure> key_admin::remove(const config& cfg, const std::string& org) {
  if (!tokens_.find_org(org)) return failure{errc::unknown_org, "no organization named " + org};
  if (auto refused = refuse_if_managed_by_config(org)) return refused;
  const bool runtime = runtime_keys_.erase(org) > 0;
  const bool file = remove_persisted_key(cfg.key_dir, org);
  if (!runtime && !file) {
    return failure{errc::no_key, "organization " + org + " has no key to remove"};
  }
  apply_change(cfg, org);
  spdlog::info("organization {}: key removed", org);
  return std::nullopt;
}

}  // namespace actoken
