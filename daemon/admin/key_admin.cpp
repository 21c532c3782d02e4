#include "daemon/admin/key_admin.hpp"

#include "daemon/keys/key_command.hpp"
#include "daemon/runtime/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <memory>

namespace actoken {

namespace net = boost::asio;

key_admin::key_admin(net::any_io_executor executor, tokens::token_service& tokens, uid_t daemon_uid)
    : executor_(std::move(executor)), tokens_(tokens), daemon_uid_(daemon_uid) {
  tokens_.on_command_key_rejected([this](const std::string& org, auto rest) {
    const auto it = commands_.find(org);
    if (it == commands_.end() || !it->second.key) return;
    spawn_detached(executor_, rerun_after_rest(org, it->second.key, rest),
                   "the key_command rerun of organization " + org);
  });
}

key_admin::~key_admin() {
  tokens_.on_command_key_rejected(nullptr);
  for (auto& [org, given] : commands_) {
    if (given.running) given.running->cancel();
  }
}

void key_admin::load(const config& cfg, bool reload) {
  const bool first = last_config_ == nullptr;
  last_config_ = &cfg;
  if (first || reload) run_key_commands(cfg);
  rebuild(cfg, reload);
}

void key_admin::rebuild(const config& cfg, bool reload) {
  tokens_.set_orgs(load_org_table(cfg, runtime_keys_, daemon_uid_, commands_), reload);
}

void key_admin::run_key_commands(const config& cfg) {
  // Organizations whose key_command is gone: their run stops, its key goes.
  for (auto it = commands_.begin(); it != commands_.end();) {
    const auto org = cfg.organizations.find(it->first);
    if (org == cfg.organizations.end() || !org->second.key_command) {
      if (it->second.running) it->second.running->cancel();
      it = commands_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, org] : cfg.organizations) {
    // A runtime key comes first (SPEC §2): its command has nothing to give.
    if (org.key_command && !runtime_keys_.contains(name)) {
      run_key_command(name, *org.key_command, /*keep_key=*/true);
    }
  }
}

void key_admin::run_key_command(const std::string& org, const std::vector<std::string>& argv,
                                bool keep_key) {
  auto& given = commands_[org];
  if (given.running) given.running->cancel();
  // The key it holds now, kept or not, is never repeated in a failure's reason.
  auto held = given.key;
  if (!keep_key) given.key.reset();
  given.problem.clear();
  given.running =
      std::make_shared<key_command_run>(executor_, org, argv, key_command_timeout, std::move(held));
  spdlog::info("organization {}: running its {}", org, command_label(argv));
  given.running->start([this](const key_command_run& run) { command_done(run); });
}

void key_admin::command_done(const key_command_run& run) {
  const auto it = commands_.find(run.org());
  if (it == commands_.end() || it->second.running.get() != &run) return;  // replaced meanwhile
  auto& given = it->second;
  given.running.reset();
  given.key = run.result().key;
  given.problem = run.result().problem;
  if (given.key)
    spdlog::info("organization {}: key from its {}", run.org(), command_label(run.argv()));
  if (last_config_ != nullptr) rebuild(*last_config_, /*reload=*/false);
}

net::awaitable<void> key_admin::rerun_after_rest(std::string org, platform::shared_key rejected,
                                                 std::chrono::steady_clock::duration rest) {
  net::steady_timer timer(executor_, rest);
  co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  // Only if nothing changed meanwhile: still configured, same key, not running.
  const auto it = commands_.find(org);
  if (it == commands_.end() || it->second.key != rejected || it->second.running ||
      last_config_ == nullptr) {
    co_return;
  }
  const auto configured = last_config_->organizations.find(org);
  if (configured == last_config_->organizations.end() || !configured->second.key_command) {
    co_return;
  }
  // The rejected key is not used again meanwhile: requests wait for the command.
  run_key_command(org, *configured->second.key_command, /*keep_key=*/false);
  rebuild(*last_config_, /*reload=*/false);
}

const std::vector<std::string>* key_admin::key_command_of(const std::string& org) const {
  if (last_config_ == nullptr) return nullptr;
  const auto it = last_config_->organizations.find(org);
  return it == last_config_->organizations.end() || !it->second.key_command
             ? nullptr
             : &*it->second.key_command;
}

std::optional<failure> key_admin::refuse_if_managed_by_config(const std::string& org,
                                                              bool ephemeral) const {
  // The one rule: a key the config names with key_file or key_command is
  // changed there. A key_command's key may be overridden by an ephemeral key,
  // which comes first (SPEC §2), and that key removed again.
  const auto settings = tokens_.find_org(org);
  if (!settings || !settings->config_key_file) return std::nullopt;
  if (key_command_of(org) == nullptr) {
    return failure{
        errc::key_managed_by_config,
        "organization " + org + "'s key comes from the config's key_file; change it there"};
  }
  if (ephemeral) return std::nullopt;
  return failure{errc::key_managed_by_config,
                 "organization " + org +
                     "'s key comes from the config's key_command; change it there, or add an "
                     "ephemeral key (persist: false) to use until a restart"};
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
  last_config_ = &cfg;
  if (auto refused = refuse_if_managed_by_config(org, /*ephemeral=*/!persist)) return refused;
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
    const std::optional<upstream::api_version>& api_version, bool persist) const {
  if (auto refused = refuse_if_managed_by_config(org, /*ephemeral=*/!persist)) {
    return std::move(*refused);
  }
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
  last_config_ = &cfg;
  const bool ephemeral = runtime_keys_.contains(org);
  if (auto refused = refuse_if_managed_by_config(org, ephemeral)) return refused;
  if (const auto* argv = key_command_of(org)) {
    // The ephemeral key goes, and the key_command's comes back: a key change,
    // so the command runs again (its last key, if any, in use meanwhile).
    runtime_keys_.erase(org);
    run_key_command(org, *argv, /*keep_key=*/true);
    apply_change(cfg, org);
    spdlog::info("organization {}: ephemeral key removed; its key_command's key is used again",
                 org);
    return std::nullopt;
  }
  bool file = false;
  try {
    file = remove_persisted_key(cfg.key_dir, org);
  } catch (const std::exception& e) {
    // The key file stays: nothing else changes either.
    spdlog::error("organization {}: cannot remove the key file: {}", org, e.what());
    return failure{errc::internal_error, "organization " + org +
                                             ": the key file could not be removed from " +
                                             cfg.key_dir.string() + " (see the daemon's log)"};
  }
  const bool runtime = runtime_keys_.erase(org) > 0;
  if (!runtime && !file) {
    return failure{errc::no_key, "organization " + org + " has no key to remove"};
  }
  apply_change(cfg, org);
  spdlog::info("organization {}: key removed", org);
  return std::nullopt;
}

}  // namespace actoken
