#include "daemon/app.hpp"

#include "common/version.hpp"
#include "daemon/api/access_policy.hpp"
#include "daemon/name_resolution.hpp"
#include "daemon/persist/cache_file.hpp"
#include "daemon/platform/files.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/platform/service_manager.hpp"
#include "daemon/spawn.hpp"
#include "daemon/tokens/https_exchanger.hpp"
#include "daemon/transport/http_server.hpp"
#include "daemon/transport/unix_listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>

namespace actoken {
namespace {

namespace net = boost::asio;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr auto shutdown_bound = std::chrono::seconds{5};
// New tokens are written to the cache file at most this often (coalesced).
constexpr auto cache_write_delay = std::chrono::seconds{1};

class daemon_app final : public api::daemon_control {
 public:
  daemon_app(startup_options options, config cfg)
      : options_(std::move(options)),
        cfg_(std::move(cfg)),
        daemon_uid_(::geteuid()),
        started_at_(clock_.wall_now()),
        tokens_(io_.get_executor(), clock_, service_options_of(cfg_), make_exchanger(cfg_)),
        router_(tokens_, *this, clock_, access_of(cfg_), router_settings_of(cfg_), started_at_),
        server_(io_, router_, limits_of(cfg_)),
        signals_(io_, SIGTERM, SIGINT, SIGHUP) {
    router_.set_last_reload({started_at_, true, with_config_problems("started")});
    // A daemon killed while persisting a key leaves its temporary file, key inside.
    if (const auto removed = remove_stale_key_files(cfg_.key_dir, daemon_uid_); removed > 0) {
      spdlog::info("removed {} temporary files left in {}", removed, cfg_.key_dir.string());
    }
    tokens_.set_orgs(load_org_table(cfg_, runtime_keys_, daemon_uid_));
    restore_cache();
    tokens_.on_change([this] { schedule_cache_write(); });
  }

  int run() {
    std::optional<gid_t> group;
    if (cfg_.socket_group) {
      std::string problem;
      group = platform::lookup_group(*cfg_.socket_group, problem);
      if (!group) {
        if (problem.empty()) {
          spdlog::error("socket_group {} does not exist", *cfg_.socket_group);
        } else {
          spdlog::error("socket_group: {}", problem);
        }
        return 1;
      }
    }
    std::optional<transport::unix_listener> listener;
    try {
      listener.emplace(
          transport::unix_listener::open({cfg_.socket, cfg_.socket_mode, group,
                                          options_.mode == run_mode::user ? 0700U : 0755U, 1024},
                                         platform::activated_socket()));
    } catch (const transport::listen_error& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
    server_.start(listener->release_fd());
    spdlog::info("actokend {} listening on {}{} ({} organizations, {} mode)", version,
                 cfg_.socket.string(), listener->activated() ? " (socket activation)" : "",
                 tokens_.org_names().size(), options_.mode == run_mode::system ? "system" : "user");
    platform::notify("READY=1\nSTATUS=" + status_line());

    spawn_detached(io_.get_executor(), handle_signals(), "the signal handler");
    if (const auto interval = platform::watchdog_interval()) {
      spawn_detached(io_.get_executor(), watchdog(*interval / 2), "the systemd watchdog");
    }
    io_.run();
    return 0;
  }

  // daemon_control
  std::variant<key_stored, failure> put_key(const std::string& org, platform::secure_buffer key,
                                            std::optional<std::string> auth_url,
                                            std::optional<upstream::api_version> api_version,
                                            bool persist) override {
    if (const auto it = cfg_.organizations.find(org);
        it != cfg_.organizations.end() && it->second.key_file) {
      return failure{
          errc::key_managed_by_config,
          "organization " + org + "'s key comes from the config's key_file; change it there",
          std::nullopt};
    }
    auto shared = std::make_shared<const platform::secure_buffer>(std::move(key));
    if (persist) {
      try {
        persist_key(cfg_.key_dir, org, *shared, auth_url, api_version);
      } catch (const std::exception& e) {
        spdlog::error("organization {}: cannot persist the key: {}", org, e.what());
        return failure{errc::internal_error,
                       "organization " + org + ": the key could not be written to " +
                           cfg_.key_dir.string() + " (see the daemon's log)",
                       std::nullopt};
      }
      runtime_keys_.erase(org);
    } else {
      runtime_keys_[org] = runtime_key{shared, auth_url, api_version};
    }
    rebuild_orgs();
    tokens_.evict(org);
    spdlog::info("organization {}: key {} ({})", org, persist ? "stored" : "added in memory",
                 persist ? cfg_.key_dir.string() : "ephemeral");
    return key_stored{persist};
  }

  std::optional<failure> remove_key(const std::string& org) override {
    const auto settings = tokens_.find_org(org);
    if (!settings) return failure{errc::unknown_org, "no organization named " + org, std::nullopt};
    if (settings->config_key_file) {
      return failure{
          errc::key_managed_by_config,
          "organization " + org + "'s key comes from the config's key_file; change it there",
          std::nullopt};
    }
    const bool runtime = runtime_keys_.erase(org) > 0;
    const bool file = remove_persisted_key(cfg_.key_dir, org);
    if (!runtime && !file) {
      return failure{errc::no_key, "organization " + org + " has no key to remove", std::nullopt};
    }
    tokens_.evict(org);
    rebuild_orgs();
    write_cache();  // the removed key's tokens leave the file now, not in a second
    spdlog::info("organization {}: key removed", org);
    return std::nullopt;
  }

  std::size_t connections() const override { return server_.connections(); }
  std::optional<api::cache_file_info> cache_file() const override { return cache_status_; }

 private:
  static tokens::service_options service_options_of(const config& cfg) {
    return {cfg.refresh_before, cfg.retry_rejected_after, cfg.max_exchanges_per_minute, 100};
  }

  static api::router_settings router_settings_of(const config& cfg) {
    return {cfg.default_org, cfg.min_ttl};
  }

  static transport::server_limits limits_of(const config& cfg) {
    transport::server_limits limits;
    limits.max_connections = cfg.max_connections;
    return limits;
  }

  std::shared_ptr<tokens::exchanger> make_exchanger(const config& cfg) {
    upstream::auth_client_options client_options;
    client_options.ca_file = cfg.ca_file;
    if (cfg.proxy) client_options.proxy = *cfg.proxy;
    client_options.env = process_env();
    auto client = std::make_shared<upstream::auth_client>(io_.get_executor(), client_options);
    return std::make_shared<tokens::https_exchanger>(std::move(client), clock_,
                                                     cfg.upstream_timeout, cfg.default_token_ttl);
  }

  api::access_policy access_of(const config& cfg) const {
    return api::access_policy(daemon_uid_, cfg.admin, cfg.allow);
  }

  void rebuild_orgs(bool reload = false) {
    tokens_.set_orgs(load_org_table(cfg_, runtime_keys_, daemon_uid_), reload);
  }

  // A refused key_dir and names that do not resolve are reported (and
  // logged) with the outcome of a start or reload.
  std::string with_config_problems(std::string outcome) const {
    if (const auto problem = key_dir_problem(cfg_.key_dir, daemon_uid_); !problem.empty()) {
      outcome += "; " + problem;
    }
    for (const auto& warning : cfg_.warnings) {
      spdlog::warn("{}", warning.to_string());
      outcome += "; " + warning.to_string();
    }
    return outcome;
  }

  std::string status_line() const {
    return std::to_string(tokens_.org_names().size()) + " organizations, " +
           std::to_string(tokens_.cached_tokens()) + " cached tokens, " +
           std::to_string(tokens_.stats().exchanges_total) + " exchanges";
  }

  void reload() {
    spdlog::info("reloading configuration from {}", options_.config_path.string());
    auto loaded = load_startup_config(options_);
    if (auto* problems = std::get_if<std::vector<config_problem>>(&loaded)) {
      std::string message;
      for (const auto& p : *problems) {
        spdlog::error("reload: {}", p.to_string());
        message += (message.empty() ? "" : "; ") + p.to_string();
      }
      spdlog::error("reload failed; keeping the previous configuration");
      router_.set_last_reload({clock_.wall_now(), false, message});
      return;
    }
    auto next = std::get<config>(std::move(loaded));
    if (next.socket != cfg_.socket || next.socket_mode != cfg_.socket_mode ||
        next.socket_group != cfg_.socket_group) {
      spdlog::warn("reload: socket settings change only on restart");
      next.socket = cfg_.socket;
      next.socket_mode = cfg_.socket_mode;
      next.socket_group = cfg_.socket_group;
    }
    cfg_ = std::move(next);
    spdlog::set_level(
        spdlog::level::from_str(options_.log_level_override.value_or(cfg_.log_level)));
    tokens_.set_options(service_options_of(cfg_));
    tokens_.set_exchanger(make_exchanger(cfg_));
    router_.set_access(access_of(cfg_));
    router_.set_settings(router_settings_of(cfg_));
    server_.set_max_connections(cfg_.max_connections);
    rebuild_orgs(/*reload=*/true);
    check_cache_file();
    router_.set_last_reload({clock_.wall_now(), true, with_config_problems("reloaded")});
    spdlog::info("reloaded: {} organizations", tokens_.org_names().size());
    platform::notify("STATUS=" + status_line());
  }

  net::awaitable<void> handle_signals() {
    for (;;) {
      auto [ec, signal] = co_await signals_.async_wait(use_tuple);
      if (ec) co_return;
      if (signal == SIGHUP) {
        platform::notify("RELOADING=1");
        // A reload that throws must not end this loop: SIGTERM would go unheard.
        try {
          reload();
        } catch (const std::exception& e) {
          spdlog::error("reload failed: {}; keeping what was loaded", e.what());
          router_.set_last_reload(
              {clock_.wall_now(), false, std::string("reload failed: ") + e.what()});
        }
        platform::notify("READY=1");
        continue;
      }
      spdlog::info("stopping on signal {}", signal);
      platform::notify("STOPPING=1");
      server_.stop();
      co_await server_.drain(shutdown_bound);
      write_cache();
      io_.stop();
      co_return;
    }
  }

  // Cache entries are sealed under the organization's key and bound to its
  // auth_url, api_version and scope (SPEC §6).
  persist::org_lookup key_lookup() const {
    return [this](const std::string& org) { return tokens_.find_org(org); };
  }

  // SPEC §6: a cache file that exists but is refused as a private file is
  // never overwritten; persistence stays off until a reload checks again.
  void turn_cache_off(const std::string& problem) {
    spdlog::error("{}; the cache file is not written until a reload", problem);
    cache_status_->state = "off";
    cache_status_->message = problem + "; not written until a reload";
  }

  // At start and on reload: is the configured cache file ours to replace?
  void check_cache_file() {
    if (!cfg_.cache_file) {
      cache_status_.reset();
      return;
    }
    cache_status_ = api::cache_file_info{cfg_.cache_file->string(), "ok", ""};
    if (const auto problem = persist::cache_file_problem(*cfg_.cache_file); !problem.empty()) {
      turn_cache_off(problem);
    }
  }

  void restore_cache() {
    if (!cfg_.cache_file) return;
    cache_status_ = api::cache_file_info{cfg_.cache_file->string(), "ok", ""};
    // A daemon killed while writing leaves its temporary file behind.
    if (const auto removed = platform::remove_stale_temporary_files(*cfg_.cache_file, daemon_uid_);
        removed > 0) {
      spdlog::info("removed {} temporary files left beside {}", removed, cfg_.cache_file->string());
    }
    std::string problem;
    const auto bytes = persist::read_cache_file(*cfg_.cache_file, problem);
    if (!bytes) {
      if (!problem.empty()) turn_cache_off(problem);
      return;
    }
    auto decoded = persist::decode_cache(*bytes, key_lookup(), clock_.wall_now());
    for (const auto& line : decoded.problems) spdlog::warn("cache file: {}", line);
    for (auto& entry : decoded.tokens) {
      tokens::cached_token token;
      token.access_token = std::move(entry.access_token);
      token.obtained_at = entry.obtained_at;
      token.expires_at = entry.expires_at;
      token.fingerprint = tokens::fingerprint(token.access_token);
      tokens_.restore(entry.org, entry.sub_org, std::move(token));
    }
    spdlog::info("restored {} tokens from {}", tokens_.cached_tokens(), cfg_.cache_file->string());
  }

  void write_cache() {
    cache_write_pending_ = false;
    if (!cfg_.cache_file || !cache_status_ || cache_status_->state == "off") return;
    // Checked again at each write: a file put there since is not overwritten either.
    if (const auto problem = persist::cache_file_problem(*cfg_.cache_file); !problem.empty()) {
      turn_cache_off(problem);
      return;
    }
    std::vector<persist::persisted_token> entries;
    for (const auto& view : tokens_.view()) {
      for (const auto& [sub, token] : view.tokens) {
        entries.push_back(
            {view.settings->name, sub, token->access_token, token->obtained_at, token->expires_at});
      }
    }
    try {
      persist::write_cache_file(*cfg_.cache_file,
                                persist::encode_cache(entries, key_lookup(), clock_.wall_now()));
      cache_status_->state = "ok";
      cache_status_->message.clear();
    } catch (const std::exception& e) {
      spdlog::error("cannot write the cache file: {}", e.what());
      cache_status_->state = "error";
      cache_status_->message = e.what();
    }
  }

  void schedule_cache_write() {
    if (!cache_status_ || cache_status_->state == "off" || cache_write_pending_) return;
    cache_write_pending_ = true;
    spawn_detached(io_.get_executor(), delayed_cache_write(), "the cache file writer");
  }

  net::awaitable<void> delayed_cache_write() {
    net::steady_timer timer(io_, cache_write_delay);
    co_await timer.async_wait(use_tuple);
    if (cache_write_pending_) write_cache();
  }

  net::awaitable<void> watchdog(std::chrono::microseconds interval) {
    net::steady_timer timer(io_);
    for (;;) {
      platform::notify("WATCHDOG=1\nSTATUS=" + status_line());
      timer.expires_after(interval);
      auto [ec] = co_await timer.async_wait(use_tuple);
      if (ec) co_return;
    }
  }

  startup_options options_;
  config cfg_;
  uid_t daemon_uid_;
  system_clock_source clock_;
  wall_time started_at_;
  net::io_context io_{1};
  std::map<std::string, runtime_key> runtime_keys_;
  tokens::token_service tokens_;
  api::router router_;
  transport::http_server server_;
  net::signal_set signals_;
  bool cache_write_pending_ = false;
  std::optional<api::cache_file_info> cache_status_;  ///< null when no cache_file is configured
};

}  // namespace

config_result load_startup_config(const startup_options& options) {
  auto result = load_config(options.config_path, options.config_explicit, options.context);
  if (auto* cfg = std::get_if<config>(&result)) {
    if (options.socket_override) cfg->socket = *options.socket_override;
    // Names become numbers now, not while serving (SPEC §4).
    cfg->warnings =
        resolve_principal_names(*cfg, system_name_service(), options.config_path.string());
  }
  return result;
}

int run_daemon(const startup_options& options, config cfg) {
  daemon_app app(options, std::move(cfg));
  return app.run();
}

}  // namespace actoken
