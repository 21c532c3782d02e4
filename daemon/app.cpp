#include "daemon/app.hpp"

#include "common/version.hpp"
#include "daemon/admin/key_admin.hpp"
#include "daemon/api/access_policy.hpp"
#include "daemon/outputs/audit_log.hpp"
#include "daemon/outputs/cache_keeper.hpp"
#include "daemon/outputs/sinks.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/platform/service_manager.hpp"
#include "daemon/runtime/spawn.hpp"
#include "daemon/settings/name_resolution.hpp"
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

// "1 organization", "2 organizations".
std::string counted(std::uint64_t n, std::string_view thing) {
  return std::to_string(n) + " " + std::string(thing) + (n == 1 ? "" : "s");
}

class daemon_app final : public api::daemon_control {
 public:
  daemon_app(startup_options options, config cfg)
      : options_(std::move(options)),
        cfg_(std::move(cfg)),
        daemon_uid_(::geteuid()),
        started_at_(clock_.wall_now()),
        audit_(io_.get_executor(), clock_, daemon_uid_),
        tokens_(io_.get_executor(), clock_, service_options_of(cfg_), make_exchanger(cfg_)),
        keys_(io_.get_executor(), tokens_, daemon_uid_),
        cache_(io_.get_executor(), tokens_, clock_, daemon_uid_),
        sinks_(io_.get_executor(), tokens_, clock_, daemon_uid_),
        router_(tokens_, *this, clock_, access_of(cfg_), router_settings_of(options_, cfg_),
                started_at_),
        server_(io_, router_, limits_of(cfg_)),
        signals_(io_, SIGTERM, SIGINT, SIGHUP) {
    router_.set_audit(audit_);
    const auto audit_problem = configure_audit();
    router_.set_last_reload(
        {started_at_, true, with_audit_problem(with_config_problems("started"), audit_problem)});
    // A daemon killed while persisting a key leaves its temporary file, key inside.
    if (const auto removed = remove_stale_key_files(cfg_.key_dir, daemon_uid_); removed > 0) {
      spdlog::info("removed {} temporary files left in {}", removed, cfg_.key_dir.string());
    }
    keys_.load(cfg_, /*reload=*/false);
    cache_.restore(cfg_.cache_file);
    tokens_.on_change([this] {
      cache_.schedule_write();
      sinks_.poke();  // a flush: the sinks' cache keys are exchanged anew at once
    });
    tokens_.on_token([this](const tokens::token_event& event) { sinks_.on_token(event); });
    sinks_.configure(cfg_);
  }

  int run() {
    auto listener = open_listener();
    if (!listener) return 1;
    server_.start(listener->release_fd());
    // Under socket activation the socket is the unit's, wherever the config
    // says: name the one actually served.
    spdlog::info("actokend {} listening on {}{} ({}, {} mode)", version,
                 listener->path().empty() ? "a socket without a path" : listener->path(),
                 listener->activated() ? " (socket activation)" : "",
                 counted(tokens_.org_names().size(), "organization"),
                 options_.mode == run_mode::system ? "system" : "user");
    platform::notify("READY=1\nSTATUS=" + status_line());
    report(start_event::ready);
    sinks_.start();  // in the background: readiness never waits for a sink's exchange

    spawn_detached(io_.get_executor(), handle_signals(), "the signal handler");
    if (const auto interval = platform::watchdog_interval()) {
      spawn_detached(io_.get_executor(), watchdog(*interval / 2), "the systemd watchdog");
    }
    io_.run();
    return 0;
  }

  // daemon_control. A key change writes the cache file at once: the old
  // key's tokens leave it now, not a second later.
  std::variant<std::shared_ptr<const org_settings>, failure> key_trial(
      const std::string& org, const platform::shared_key& key,
      const std::optional<std::string>& auth_url,
      const std::optional<upstream::api_version>& api_version, bool persist) override {
    return keys_.trial(cfg_, org, key, auth_url, api_version, persist);
  }

  std::variant<key_stored, failure> put_key(const std::string& org, platform::secure_buffer key,
                                            std::optional<std::string> auth_url,
                                            std::optional<upstream::api_version> api_version,
                                            bool persist) override {
    if (auto refused =
            keys_.put(cfg_, org, std::move(key), std::move(auth_url), api_version, persist)) {
      return std::move(*refused);
    }
    cache_.write_now();
    sinks_.key_changed(org);
    return key_stored{persist};
  }

  std::optional<failure> remove_key(const std::string& org) override {
    if (auto refused = keys_.remove(cfg_, org)) return refused;
    cache_.write_now();
    sinks_.key_changed(org);
    return std::nullopt;
  }

  // SIGHUP and `POST /v1/reload` alike. A reload that throws keeps what was
  // loaded, and must not end the signal loop: SIGTERM would go unheard.
  api::reload_info reload() override {
    try {
      return apply_reload();
    } catch (const std::exception& e) {
      spdlog::error("reload failed: {}; keeping what was loaded", e.what());
      api::reload_info failed{clock_.wall_now(), false, std::string("reload failed: ") + e.what()};
      router_.set_last_reload(failed);
      return failed;
    }
  }

  std::size_t connections() const override { return server_.connections(); }
  std::optional<api::cache_file_info> cache_file() const override { return cache_.status(); }
  std::vector<api::sink_info> sinks(const std::string& org) const override {
    return sinks_.status(org);
  }
  std::uint64_t sink_failures() const override { return sinks_.failures(); }

 private:
  // The socket, with the group resolved when the config was loaded
  // (name_resolution.hpp); nullopt, after a log line, when it cannot be had.
  std::optional<transport::unix_listener> open_listener() {
    const auto group = cfg_.socket_gid;
    if (cfg_.socket_group && !group) {
      spdlog::error("socket_group {} does not exist (or could not be looked up); not starting",
                    *cfg_.socket_group);
      return std::nullopt;
    }
    try {
      return transport::unix_listener::open({cfg_.socket, cfg_.socket_mode, group,
                                             options_.mode == run_mode::user ? 0700U : 0755U, 1024},
                                            platform::activated_socket());
    } catch (const transport::socket_taken_error& e) {
      // A `--detach` waiting for this start then waits for that daemon: for
      // it, this is how two starts at once end, not an error.
      if (options_.on_start) {
        spdlog::info("{}; this one stops", e.what());
      } else {
        spdlog::error("{}", e.what());
      }
      report(start_event::socket_taken);
    } catch (const transport::listen_error& e) {
      spdlog::error("{}", e.what());
    }
    return std::nullopt;
  }

  void report(start_event event) const {
    if (options_.on_start) options_.on_start(event);
  }

  static tokens::service_options service_options_of(const config& cfg) {
    return {cfg.refresh_before, cfg.retry_rejected_after, cfg.max_exchanges_per_minute, 100};
  }

  static api::router_settings router_settings_of(const startup_options& options,
                                                 const config& cfg) {
    return {cfg.default_org, cfg.min_ttl, options.config_path.string()};
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
    return api::access_policy(daemon_uid_, cfg.admin, cfg.allow, cfg.names);
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

  // Opens (or reopens: SIGHUP after logrotate) the audit log the config
  // names; what went wrong, "" when nothing did.
  std::string configure_audit() {
    auto problem = audit_.configure(cfg_.audit_log);
    server_.set_read_peer_details(audit_.enabled());
    return problem;
  }

  static std::string with_audit_problem(std::string outcome, const std::string& problem) {
    if (!problem.empty()) outcome += "; " + problem;
    return outcome;
  }

  std::string status_line() const {
    return counted(tokens_.org_names().size(), "organization") + ", " +
           counted(tokens_.cached_tokens(), "cached token") + ", " +
           counted(tokens_.stats().exchanges_total, "exchange");
  }

  // Re-reads the config and keys; the outcome, also pushed to the router.
  api::reload_info apply_reload() {
    spdlog::info("reloading configuration from {}", options_.config_path.string());
    auto loaded = load_startup_config(options_);
    if (auto* problems = std::get_if<std::vector<config_problem>>(&loaded)) {
      std::string message;
      for (const auto& p : *problems) {
        spdlog::error("reload: {}", p.to_string());
        message += (message.empty() ? "" : "; ") + p.to_string();
      }
      spdlog::error("reload failed; keeping the previous configuration");
      // The audit file is reopened all the same: logrotate has moved it.
      message = with_audit_problem(std::move(message), configure_audit());
      api::reload_info refused{clock_.wall_now(), false, message};
      router_.set_last_reload(refused);
      return refused;
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
    router_.set_settings(router_settings_of(options_, cfg_));
    server_.set_max_connections(cfg_.max_connections);
    keys_.load(cfg_, /*reload=*/true);
    cache_.reconfigure(cfg_.cache_file);
    sinks_.configure(cfg_);
    const auto audit_problem = configure_audit();
    api::reload_info reloaded{clock_.wall_now(), true,
                              with_audit_problem(with_config_problems("reloaded"), audit_problem)};
    router_.set_last_reload(reloaded);
    spdlog::info("reloaded: {}", counted(tokens_.org_names().size(), "organization"));
    platform::notify("STATUS=" + status_line());
    return reloaded;
  }

  net::awaitable<void> handle_signals() {
    for (;;) {
      auto [ec, signal] = co_await signals_.async_wait(use_tuple);
      if (ec) co_return;
      if (signal == SIGHUP) {
        platform::notify("RELOADING=1");
        const auto outcome = reload();
        // A signal's sender is not known: the line has no peer.
        audit_.record({nullptr,
                       std::nullopt,
                       "reload",
                       {},
                       {},
                       outcome.ok ? std::string_view("ok") : audit_reload_refused,
                       {},
                       {}});
        platform::notify("READY=1");
        continue;
      }
      spdlog::info("stopping on signal {}", signal);
      platform::notify("STOPPING=1");
      server_.stop();
      co_await server_.drain(shutdown_bound);
      cache_.write_now();
      io_.stop();
      co_return;
    }
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
  audit_log audit_;
  tokens::token_service tokens_;
  key_admin keys_;
  cache_keeper cache_;
  sink_keeper sinks_;
  api::router router_;
  transport::http_server server_;
  net::signal_set signals_;
};

}  // namespace

config_result load_startup_config(const startup_options& options) {
  auto result = load_config(options.config_path, options.config_explicit, options.context);
  if (auto* cfg = std::get_if<config>(&result)) {
    if (options.socket_override) cfg->socket = *options.socket_override;
    // Names become numbers now, not while serving (SPEC §4).
    cfg->warnings =
        resolve_principal_names(*cfg, system_name_service(), options.config_path.string());
    // Root's and the daemon's own names, for whoami; now, not while serving.
    learn_account_names(cfg->names, {0, ::geteuid()}, {0, ::getegid()});
    // And those of the users who may connect or whom a rule names by a group, so
    // that whoami and refusals name them too (the socket's group: its own, or the
    // daemon's primary group).
    learn_group_members(cfg->names, groups_to_name(*cfg, cfg->socket_gid.value_or(::getegid())),
                        system_name_service());
  }
  return result;
}

int run_daemon(const startup_options& options, config cfg) {
  daemon_app app(options, std::move(cfg));
  return app.run();
}

}  // namespace actoken
