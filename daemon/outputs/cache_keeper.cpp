#include "daemon/outputs/cache_keeper.hpp"

#include "daemon/outputs/cache_file.hpp"
#include "daemon/runtime/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <vector>

namespace actoken {
namespace {

namespace net = boost::asio;

// New tokens are written to the cache file at most this often (coalesced).
constexpr auto write_delay = std::chrono::seconds{1};

}  // namespace

cache_keeper::cache_keeper(net::any_io_executor executor, tokens::token_service& tokens,
                           const clock_source& clock, uid_t daemon_uid)
    : executor_(std::move(executor)), tokens_(tokens), clock_(clock), daemon_uid_(daemon_uid) {}

// SPEC §6: a cache file that exists but is refused as a private file is
// never overwritten; persistence stays off until a reload checks again.
void cache_keeper::turn_off(const std::string& problem) {
  spdlog::error("{}; the cache file is not written until a reload", problem);
  status_->state = "off";
  status_->message = problem + "; not written until a reload";
}

persist::org_lookup cache_keeper::seal_lookup() const {
  return [this](const std::string& org) -> std::optional<persist::seal_inputs> {
    const auto settings = tokens_.find_org(org);
    if (!settings) return std::nullopt;
    return persist::seal_inputs{settings->key, settings->auth_url, settings->api_version,
                                settings->scope};
  };
}

void cache_keeper::reconfigure(std::optional<std::filesystem::path> path) {
  path_ = std::move(path);
  if (!path_) {
    status_.reset();
    return;
  }
  status_ = api::cache_file_info{path_->string(), "ok", ""};
  if (const auto problem = persist::cache_file_problem(*path_, daemon_uid_); !problem.empty()) {
    turn_off(problem);
  }
}

void cache_keeper::restore(std::optional<std::filesystem::path> path) {
  path_ = std::move(path);
  status_.reset();
  if (!path_) return;
  status_ = api::cache_file_info{path_->string(), "ok", ""};
  // A daemon killed while writing leaves its temporary file behind.
  if (const auto removed = persist::remove_stale_cache_files(*path_, daemon_uid_); removed > 0) {
    spdlog::info("removed {} temporary files left beside {}", removed, path_->string());
  }
  std::string problem;
  const auto bytes = persist::read_cache_file(*path_, problem, daemon_uid_);
  if (!bytes) {
    if (!problem.empty()) turn_off(problem);
    return;
  }
  auto decoded = persist::decode_cache(*bytes, seal_lookup(), clock_.wall_now());
  for (const auto& line : decoded.problems) spdlog::warn("cache file: {}", line);
  for (auto& entry : decoded.tokens) {
    tokens::cached_token token;
    token.access_token = std::move(entry.access_token);
    token.obtained_at = entry.obtained_at;
    token.expires_at = entry.expires_at;
    token.fingerprint = tokens::fingerprint(token.access_token);
    tokens_.restore(entry.org, entry.sub_org, std::move(token));
  }
  spdlog::info("restored {} tokens from {}", tokens_.cached_tokens(), path_->string());
}

void cache_keeper::write_now() {
  write_pending_ = false;
  if (!path_ || !status_ || status_->state == "off") return;
  // Checked again at each write: a file put there since is not overwritten either.
  if (const auto problem = persist::cache_file_problem(*path_, daemon_uid_); !problem.empty()) {
    turn_off(problem);
    return;
  }
  try {
    write_entries();
    status_->state = "ok";
    status_->message.clear();
  } catch (const std::exception& e) {
    spdlog::error("cannot write the cache file: {}", e.what());
    status_->state = "error";
    status_->message = e.what();
  }
}

void cache_keeper::write_entries() {
  std::vector<persist::persisted_token> entries;
  for (const auto& view : tokens_.view()) {
    for (const auto& [sub, token] : view.tokens) {
      entries.push_back(
          {view.settings->name, sub, token->access_token, token->obtained_at, token->expires_at});
    }
  }
  persist::write_cache_file(
      *path_, persist::encode_cache(entries, seal_lookup(), clock_.wall_now()), daemon_uid_);
}

void cache_keeper::schedule_write() {
  if (!status_ || status_->state == "off" || write_pending_) return;
  write_pending_ = true;
  spawn_detached(executor_, delayed_write(), "the cache file writer");
}

net::awaitable<void> cache_keeper::delayed_write() {
  net::steady_timer timer(executor_, write_delay);
  co_await timer.async_wait(net::as_tuple(net::use_awaitable));
  if (write_pending_) write_now();
}

}  // namespace actoken
