#include "daemon/outputs/sinks.hpp"

#include "common/appcircle_config.hpp"
#include "daemon/platform/files.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/home_folder.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/runtime/spawn.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <string.h>

#include <algorithm>
#include <set>
#include <utility>

namespace actoken {
namespace {

namespace net = boost::asio;

// Removes a copy of a token from memory before the string goes.
void wipe(std::string& text) {
  ::explicit_bzero(text.data(), text.size());
  text.clear();
}

std::string who(const std::string& org, const sink_config& cfg) {
  return "sink " + cfg.path + " of organization " + org +
         (cfg.sub_org_label.empty() ? "" : " (sub-organization " + cfg.sub_org_label + ")");
}

// `~/...` is the daemon user's home; anything else was checked absolute at load.
std::optional<std::filesystem::path> expand(const std::string& path, uid_t uid) {
  if (!path.starts_with("~/")) return std::filesystem::path(path);
  const auto home = platform::home_folder(uid);
  if (!home) return std::nullopt;
  return *home / path.substr(2);
}

}  // namespace

sink_text render_sink(sink_format format, std::string_view org, std::string_view sub_org_label,
                      const tokens::cached_token& token, wall_time now,
                      std::optional<std::string_view> existing) {
  sink_text out;
  switch (format) {
    case sink_format::token:
      out.text = token.access_token + "\n";
      break;
    case sink_format::env:
      // KEY=VALUE with nothing to quote: a token is [A-Za-z0-9._~+/=-] (SPEC §3),
      // read alike by `docker --env-file` and systemd's EnvironmentFile=.
      out.text = "AC_ACCESS_TOKEN=" + token.access_token + "\n";
      break;
    case sink_format::json: {
      const auto left = std::chrono::floor<seconds>(token.expires_at - now).count();
      out.text = tokens::render_token_object(org, sub_org_label, token,
                                             std::max<std::int64_t>(0, left), true) +
                 "\n";
      break;
    }
    case sink_format::appcircle_cli: {
      auto checked = check_appcircle_config(existing);
      if (!checked.config) {
        out.problem = "the Appcircle CLI config there " + checked.problem + "; it is left alone";
        return out;
      }
      out.text = render_with_token(*checked.config, token.access_token);
      break;
    }
  }
  return out;
}

std::optional<std::string> render_appcircle_without_token(std::string_view existing) {
  auto checked = check_appcircle_config(existing);
  if (!checked.config) return std::nullopt;
  return render_with_token(*checked.config, "");
}

/// One configured sink and what the daemon last did with it.
struct sink_keeper::sink {
  std::string org;
  sink_config cfg;
  std::filesystem::path path;  // `cfg.path` with `~/` expanded; empty when it cannot be
  std::string state = "pending";
  std::string message = "no token yet";
  std::optional<wall_time> written_at;
  std::shared_ptr<const tokens::cached_token> written;  // the token in the file now
  std::shared_ptr<const tokens::cached_token> failed;   // the last token that could not be written
  // A token whose key was rejected or removed: never written again, though it stays cached.
  std::shared_ptr<const tokens::cached_token> withdrawn;
  std::string configured_problem;  // set at configure: never written
};

sink_keeper::sink_keeper(net::any_io_executor executor, tokens::token_service& tokens,
                         const clock_source& clock, uid_t daemon_uid)
    : executor_(executor),
      tokens_(tokens),
      clock_(clock),
      daemon_uid_(daemon_uid),
      timer_(executor, mono_clock::time_point::max()) {}

sink_keeper::~sink_keeper() = default;

void sink_keeper::configure(const config& cfg) {
  std::vector<std::unique_ptr<sink>> next;
  for (const auto& [name, org_cfg] : cfg.organizations) {
    const std::string& org = name;  // clang before 16 cannot capture a structured binding
    for (const auto& sink_cfg : org_cfg.sinks) {
      // Configured as before: the same file, nothing to redo.
      const auto same = std::find_if(sinks_.begin(), sinks_.end(), [&](const auto& old) {
        return old && old->org == org && old->cfg == sink_cfg;
      });
      if (same != sinks_.end()) {
        next.push_back(std::move(*same));
        continue;
      }
      auto s = std::make_unique<sink>();
      s->org = org;
      s->cfg = sink_cfg;
      if (auto path = expand(sink_cfg.path, daemon_uid_)) {
        s->path = std::move(*path);
      } else {
        s->configured_problem = "the daemon's user has no home folder for ~/";
      }
      if (!sink_cfg.group_problem.empty()) s->configured_problem = sink_cfg.group_problem;
      if (!s->configured_problem.empty()) {
        s->state = "error";
        s->message = s->configured_problem;
        spdlog::warn("{}: {}", who(org, sink_cfg), s->message);
      } else {
        remove_stale_temporary_file(s->path);
      }
      next.push_back(std::move(s));
    }
  }
  // The files of sinks no longer configured: their tokens would be left to
  // lapse. A file another sink now writes (a new mode, group or format) stays:
  // it is replaced at once, never missing in between.
  for (auto& old : sinks_) {
    if (!old || !old->written) continue;
    const bool reused = std::any_of(next.begin(), next.end(),
                                    [&](const auto& s) { return s->cfg.path == old->cfg.path; });
    if (!reused) withdraw(*old, "pending", "no longer configured");
  }
  sinks_ = std::move(next);
  poke();
}

void sink_keeper::start() {
  if (started_) return;
  started_ = true;
  spawn_detached(executor_, keep_warm(), "the sinks' keeper");
}

void sink_keeper::poke() { timer_.cancel(); }

net::awaitable<void> sink_keeper::keep_warm() {
  for (;;) {
    auto next = std::chrono::steady_clock::duration{std::chrono::seconds{1}};
    // A bug in one pass must not end the keeping of every sink (STYLE 21).
    try {
      next = pass();
    } catch (const std::exception& e) {
      spdlog::error("sinks: unexpected failure: {}", e.what());
    }
    timer_.expires_after(next);
    // Cancelled by poke(): a new token, a key change or a reload; look again.
    (void)co_await timer_.async_wait(net::as_tuple(net::use_awaitable));
  }
}

std::chrono::steady_clock::duration sink_keeper::pass() {
  std::chrono::steady_clock::duration next = std::chrono::seconds{60};
  std::set<std::pair<std::string, std::string>> warmed;
  const auto now = clock_.wall_now();
  for (auto& sp : sinks_) {
    auto& s = *sp;
    if (!s.configured_problem.empty()) continue;
    const auto settings = tokens_.find_org(s.org);
    if (!settings || !settings->key) {
      const auto why = "organization " + s.org + " has no usable key" +
                       (settings && !settings->key_problem.empty() ? ": " + settings->key_problem
                                                                   : std::string());
      if (s.written) {
        withdraw(s, "error", why);
      } else {
        s.state = "error";
        s.message = why;
      }
      // A key may come without a key change through the API (a key command
      // that answers late): looked at again soon.
      next = std::min<std::chrono::steady_clock::duration>(next, std::chrono::seconds{5});
      continue;
    }
    if (!s.cfg.sub_org.empty() && settings->api_version == upstream::api_version::v1) {
      s.state = "error";
      s.message = "organization " + s.org + " uses API v1, which has no sub-organizations";
      continue;
    }
    if (warmed.emplace(s.org, s.cfg.sub_org).second) {
      next = std::min(next, tokens_.keep_warm(s.org, s.cfg.sub_org));
    }
    const auto token = tokens_.cached(s.org, s.cfg.sub_org);
    if (token && token != s.written && token != s.withdrawn && token->expires_at > now) {
      write(s, token);
    }
    if (s.written && s.written->expires_at <= now) {
      withdraw(s, "error", "its token expired before a new one could be had (see last_error)");
    } else if (s.written) {
      next = std::min(next, std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                s.written->expires_at - now) +
                                std::chrono::milliseconds{10});
    }
  }
  return std::max<std::chrono::steady_clock::duration>(next, std::chrono::milliseconds{100});
}

void sink_keeper::remove_stale_temporary_file(const std::filesystem::path& path) const {
  const auto walked = platform::walk_to_folder(platform::folder_of(path), folder_rules());
  if (!walked.ok()) return;  // said when the sink is written
  const auto name = path.filename().string();
  // A token's temporary file left by a crash.
  platform::remove_stale_temporary_files(walked.folder.get(), daemon_uid_,
                                         [&name](std::string_view entry) { return entry == name; });
}

platform::walk_rules sink_keeper::folder_rules() const { return {.daemon_uid = daemon_uid_}; }

platform::private_file_rules sink_keeper::read_back_rules() const {
  // Another user's file is never imported: its host names would take the
  // token to them. The mode is the user's choice (`mode`), not judged; a link
  // is not read through, and is replaced.
  return {.daemon_uid = daemon_uid_,
          .max_size = appcircle_config_max_size,
          .owner_only = false,
          .link_is_missing = true};
}

std::optional<std::string> sink_keeper::replace(const sink& s,
                                                const tokens::cached_token& token) const {
  // One walk; the read-back and the write both go through its descriptor.
  const auto walked = platform::walk_to_folder(platform::folder_of(s.path), folder_rules());
  if (!walked.ok()) return walked.problem;
  std::string existing;
  bool exists = false;
  if (s.cfg.format == sink_format::appcircle_cli) {
    const auto read =
        platform::read_private_file_in(walked.folder.get(), s.path, read_back_rules(), existing);
    if (read.refused()) return read.problem + "; it is neither imported nor overwritten";
    exists = read.ok();
  }
  auto rendered = render_sink(s.cfg.format, s.org, s.cfg.sub_org_label, token, clock_.wall_now(),
                              exists ? std::optional<std::string_view>(existing) : std::nullopt);
  std::optional<std::string> problem;
  if (!rendered.problem.empty()) {
    problem = rendered.problem;
  } else {
    problem = platform::replace_file(walked.folder.get(), s.path, rendered.text,
                                     {.mode = s.cfg.mode, .group = s.cfg.gid});
  }
  wipe(rendered.text);
  wipe(existing);
  return problem;
}

void sink_keeper::write(sink& s, const std::shared_ptr<const tokens::cached_token>& token) {
  if (const auto problem = replace(s, *token)) {
    s.state = "error";
    s.message = *problem;
    // Once per token: the next pass tries again, and says nothing new.
    if (token != s.failed) {
      ++failures_;
      spdlog::warn("{}: not written: {}", who(s.org, s.cfg), *problem);
    }
    s.failed = token;
    return;
  }
  s.written = token;
  s.failed.reset();
  s.written_at = clock_.wall_now();
  s.state = "ok";
  s.message.clear();
  spdlog::info("{}: wrote token {}", who(s.org, s.cfg), token->fingerprint);
}

std::optional<std::string> sink_keeper::take_token_out(const sink& s) const {
  const auto walked = platform::walk_to_folder(platform::folder_of(s.path), folder_rules());
  if (!walked.ok()) return walked.problem;
  if (s.cfg.format != sink_format::appcircle_cli) {
    auto removed = platform::remove_file(walked.folder.get(), s.path);
    if (removed.problem.empty()) return std::nullopt;
    return std::move(removed.problem);
  }
  // The rest of that file is the user's: only the token goes.
  std::string existing;
  std::optional<std::string> problem;
  const auto read =
      platform::read_private_file_in(walked.folder.get(), s.path, read_back_rules(), existing);
  if (read.ok()) {
    if (auto text = render_appcircle_without_token(existing)) {
      problem = platform::replace_file(walked.folder.get(), s.path, *text,
                                       {.mode = s.cfg.mode, .group = s.cfg.gid});
    }
  }
  wipe(existing);
  return problem;
}

void sink_keeper::withdraw(sink& s, std::string state, std::string why) {
  s.state = std::move(state);
  s.message = std::move(why);
  s.written.reset();
  s.written_at.reset();
  if (const auto problem = take_token_out(s)) {
    ++failures_;
    spdlog::warn("{}: its token could not be removed: {}", who(s.org, s.cfg), *problem);
    return;
  }
  spdlog::info("{}: token removed: {}", who(s.org, s.cfg), s.message);
}

void sink_keeper::key_changed(const std::string& org) {
  const auto settings = tokens_.find_org(org);
  for (auto& s : sinks_) {
    if (s->org != org || !s->written) continue;
    if (!settings || !settings->key) {
      withdraw(*s, "error", "organization " + org + "'s key was removed");
    }
  }
  poke();
}

void sink_keeper::on_token(const tokens::token_event& event) {
  using kind = tokens::token_event::kind;
  if (event.what == kind::granted) {
    poke();  // written by the pass, at once
    return;
  }
  for (auto& s : sinks_) {
    if (s->org != event.org || !s->configured_problem.empty()) continue;
    if (event.what == kind::rejected && s->cfg.sub_org != event.sub_org) continue;
    // The token still cached was had with a key now refused: not written again.
    s->withdrawn = tokens_.cached(s->org, s->cfg.sub_org);
    const std::string why = "the key was rejected (see last_error)";
    if (s->written) {
      withdraw(*s, "error", why);
    } else {
      s->state = "error";
      s->message = why;
    }
  }
}

std::vector<api::sink_info> sink_keeper::status(const std::string& org) const {
  std::vector<api::sink_info> out;
  for (const auto& s : sinks_) {
    if (s->org != org) continue;
    out.push_back(
        {s->cfg.path, std::string(to_string(s->cfg.format)), s->state, s->message, s->written_at});
  }
  return out;
}

}  // namespace actoken
