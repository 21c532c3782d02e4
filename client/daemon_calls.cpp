#include "client/daemon_calls.hpp"

#include "client/daemon_reply.hpp"
#include "client/http_request.hpp"
#include "client/org_names.hpp"
#include "client/platform/access_facts.hpp"
#include "client/socket_client.hpp"
#include "common/error.hpp"

#include <string.h>

#include <utility>

namespace actoken::client {
namespace {

using json = nlohmann::ordered_json;

// A failure to report: its exit code and its line.
struct failure {
  int exit_code = exit_code::failure;
  std::string message;
};

// The daemon's way of saying that the CLI named no organization, and it has no
// default_org and not exactly one organization (daemon/api/router.cpp).
bool asks_for_an_organization(const daemon_reply& reply) {
  return reply.code == errc::bad_request && reply.message.starts_with("name an organization");
}

// `no organization named acmee` and the nearest name the caller may use, or the
// names it may use when none is near. Never a hint to store a key under `org`.
failure unknown_org_failure(const context& ctx, std::string_view org, failure given) {
  const auto orgs = fetch_orgs_quietly(ctx);
  if (!orgs) {
    return given;
  }
  const auto names = org_names_of(*orgs);
  if (auto nearest = nearest_name(org, names)) {
    given.message += "; did you mean " + one_line(*nearest, 64) + "?";
  } else if (!names.empty()) {
    given.message += "; you may use " + one_line(list_names(names));
  }
  return given;
}

// No organization named, no default: the ones to choose from (exit 2), or why
// there are none (exit 5).
failure choose_org_failure(const context& ctx, failure given) {
  const auto orgs = fetch_orgs_quietly(ctx);
  if (!orgs) {
    return given;
  }
  const auto names = org_names_of(*orgs);
  if (!names.empty()) {
    return {exit_code::usage, "name an organization (there is no default_org); you may use " +
                                  one_line(list_names(names))};
  }
  if (const auto hidden = integer_field(*orgs, "hidden").value_or(0); hidden > 0) {
    return {exit_code::no_such_org, "there is no organization you may use (" +
                                        std::to_string(hidden) +
                                        " hidden from you: see `actoken whoami`)"};
  }
  return {exit_code::no_such_org,
          "actokend has no organization yet; add one with `actoken key add ORG`"};
}

failure judge(const context& ctx, const daemon_reply& reply, std::string_view org) {
  failure given{reply.exit_code, reply.message};
  if (reply.code == errc::unknown_org && !org.empty()) {
    return unknown_org_failure(ctx, org, std::move(given));
  }
  if (org.empty() && asks_for_an_organization(reply)) {
    return choose_org_failure(ctx, std::move(given));
  }
  return given;
}

// How long the progress line may wait for `/v1/orgs` to say what the daemon is doing.
constexpr std::chrono::milliseconds orgs_for_progress{2000};

// "auth.appcircle.io" of "https://auth.appcircle.io/": the host (and port) people know.
std::string host_of(std::string_view url) {
  if (const auto scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  return one_line(url.substr(0, url.find('/')), 128);
}

// The organization `reason` is about in a `/v1/orgs` answer: the one named, or the
// only one when none was named. Null when it is not there.
const json* org_entry(const wait_reason& reason, const std::optional<json>& orgs) {
  if (!orgs) {
    return nullptr;
  }
  const auto list = orgs->find("orgs");
  if (list == orgs->end() || !list->is_array()) {
    return nullptr;
  }
  if (reason.org.empty()) {
    return list->size() == 1 && list->front().is_object() ? &list->front() : nullptr;
  }
  for (const auto& org : *list) {
    if (text_field(org, "name", "") == reason.org) {
      return &org;
    }
  }
  return nullptr;
}

// The line that clears the progress line: erase to the end of the line, or (where
// the terminal knows no escapes) overwrite it with spaces.
std::string clearing(const context& ctx, std::size_t shown) {
  const char* term = ctx.env("TERM");
  if (term != nullptr && std::string_view(term) == "dumb") {
    return "\r" + std::string(shown, ' ') + "\r";
  }
  return "\r\033[K";
}

}  // namespace

std::string waiting_line(const wait_reason& reason, const std::optional<json>& orgs,
                         const std::filesystem::path& socket) {
  if (reason.what == wait_reason::kind::other) {
    return "waiting for actokend at " + socket.string() + "…";
  }
  const auto* entry = org_entry(reason, orgs);
  const auto name = one_line(entry != nullptr ? text_field(*entry, "name", "") : reason.org, 64);
  if (name.empty()) {
    return "waiting for a token from actokend…";
  }
  auto url = reason.auth_url;
  if (url.empty() && entry != nullptr) {
    url = text_field(*entry, "auth_url", "");
  }
  if (reason.what == wait_reason::kind::key_check) {
    return "verifying " + name + "'s key " +
           (url.empty() ? std::string("with its auth server") : "at " + host_of(url)) + "…";
  }
  bool has_key = false;
  if (entry != nullptr) {
    const auto it = entry->find("has_key");
    has_key = it != entry->end() && it->is_boolean() && it->get<bool>();
  }
  if (has_key && !url.empty()) {
    const auto sub =
        reason.sub_org.empty() ? std::string() : " for " + one_line(reason.sub_org, 64);
    return "exchanging " + name + "'s key at " + host_of(url) + sub + "…";
  }
  if (entry != nullptr && text_field(*entry, "key_source", "") == "command") {
    return "waiting for " + name + "'s key_command…";
  }
  return "waiting for " + name + "'s token…";
}

void report_line(const context& ctx, std::string_view message) {
  ctx.err << "actoken: " << message << '\n' << std::flush;
}

void print_json(const context& ctx, const nlohmann::ordered_json& object) {
  ctx.out << object.dump(ctx.pretty_json ? 2 : -1, ' ', false, json::error_handler_t::replace)
          << '\n';
}

void report_error(const context& ctx, std::string_view message, std::string_view error) {
  if (ctx.json) {
    print_json(ctx, json{{"error", error}, {"message", message}});
  }
  report_line(ctx, message);
}

transport_report report_of(const context& ctx, const call_result& result,
                           const std::filesystem::path& socket) {
  const auto owner = owner_of_socket(socket, ctx.system_daemon_installed);
  if (result.error == transport_error::permission) {
    const auto access = platform::inspect_access(socket);
    return describe_transport_error(result, socket, owner, &access);
  }
  return describe_transport_error(result, socket, owner);
}

answer ask(const context& ctx, std::string_view method, std::string_view target,
           std::string_view org, std::string_view body, bool has_body, const wait_reason& reason) {
  const socket_client client(ctx.socket, ctx.timeout);
  std::size_t shown = 0;  // the progress line's length, once printed
  slow_answer_hook slow;
  slow.on_slow = [&] {
    // Asked only now: a command answered within 0.5 s never looks at the terminal.
    if (!ctx.stderr_is_terminal()) {
      return;
    }
    const auto line =
        "actoken: " + waiting_line(reason, fetch_orgs_quietly(ctx, orgs_for_progress), ctx.socket);
    ctx.err << line << std::flush;
    shown = line.size();
  };
  const auto result = client.call(method, target, body, has_body, &slow);
  if (shown > 0) {
    ctx.err << clearing(ctx, shown) << std::flush;
  }
  if (!result.answered()) {
    const auto report = report_of(ctx, result, ctx.socket);
    report_error(ctx, report.message, report.error);
    return {report.exit_code, {}};
  }
  auto reply = interpret_reply(result.response);
  if (!reply.ok) {
    auto reported = judge(ctx, reply, org);
    if (reason.what == wait_reason::kind::token) {
      reported.message = with_next_try(std::move(reported.message), reply.retry_after);
    }
    if (ctx.json) {
      print_json(ctx, reply.error_object);
    }
    report_line(ctx, reported.message);
    return {reported.exit_code, {}};
  }
  return {exit_code::ok, std::move(reply.body)};
}

int check_daemon(const context& ctx) {
  const socket_client client(ctx.socket, ctx.timeout);
  const auto result = client.check();
  if (result.answered()) {
    return exit_code::ok;
  }
  const auto report = report_of(ctx, result, ctx.socket);
  report_error(ctx, report.message, report.error);
  return report.exit_code;
}

answer fetch_token(const context& ctx, const token_options& options, std::string& token) {
  const wait_reason reason{wait_reason::kind::token, options.org.value_or(""),
                           options.sub_org.value_or(""), ""};
  auto got = ask(ctx, "GET", token_target(options), options.org.value_or(""), {}, false, reason);
  if (got.exit_code != exit_code::ok) {
    return got;
  }
  token = text_field(got.body, "access_token", "");
  if (token.empty()) {
    report_error(ctx,
                 "unexpected answer from actokend at " + ctx.socket.string() + ": no access_token",
                 "unexpected_answer");
    return {exit_code::failure, {}};
  }
  return got;
}

std::optional<nlohmann::ordered_json> fetch_orgs_quietly(const context& ctx,
                                                         std::chrono::milliseconds timeout) {
  const socket_client client(ctx.socket, timeout.count() > 0 ? timeout : ctx.timeout);
  const auto result = client.call("GET", "/v1/orgs");
  if (!result.answered()) {
    return std::nullopt;
  }
  auto reply = interpret_reply(result.response);
  if (!reply.ok) {
    return std::nullopt;
  }
  return std::move(reply.body);
}

std::string text_field(const nlohmann::ordered_json& object, std::string_view key,
                       std::string_view fallback) {
  if (object.is_object()) {
    if (const auto it = object.find(key); it != object.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return std::string(fallback);
}

std::optional<std::int64_t> integer_field(const nlohmann::ordered_json& object,
                                          std::string_view key) {
  if (object.is_object()) {
    if (const auto it = object.find(key); it != object.end() && it->is_number()) {
      return it->is_number_float() ? static_cast<std::int64_t>(it->get<double>())
                                   : it->get<std::int64_t>();
    }
  }
  return std::nullopt;
}

void wipe(std::string& secret) {
  ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace actoken::client
