#include "client/daemon_calls.hpp"

#include "client/daemon_reply.hpp"
#include "client/http_request.hpp"
#include "client/org_names.hpp"
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

}  // namespace

void report_error(const context& ctx, std::string_view message) {
  ctx.err << "actoken: " << message << '\n' << std::flush;
}

answer ask(const context& ctx, std::string_view method, std::string_view target,
           std::string_view org, std::string_view body, bool has_body) {
  const socket_client client(ctx.socket, ctx.timeout);
  const auto result = client.call(method, target, body, has_body);
  if (!result.answered()) {
    const auto report = describe_transport_error(
        result, ctx.socket, owner_of_socket(ctx.socket, ctx.system_daemon_installed));
    report_error(ctx, report.message);
    return {report.exit_code, {}};
  }
  auto reply = interpret_reply(result.response, org);
  if (!reply.ok) {
    const auto reported = judge(ctx, reply, org);
    report_error(ctx, reported.message);
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
  const auto report = describe_transport_error(
      result, ctx.socket, owner_of_socket(ctx.socket, ctx.system_daemon_installed));
  report_error(ctx, report.message);
  return report.exit_code;
}

answer fetch_token(const context& ctx, const token_options& options, std::string& token) {
  auto got = ask(ctx, "GET", token_target(options), options.org.value_or(""));
  if (got.exit_code != exit_code::ok) {
    return got;
  }
  token = text_field(got.body, "access_token", "");
  if (token.empty()) {
    report_error(ctx,
                 "unexpected answer from actokend at " + ctx.socket.string() + ": no access_token");
    return {exit_code::failure, {}};
  }
  return got;
}

std::optional<nlohmann::ordered_json> fetch_orgs_quietly(const context& ctx) {
  const socket_client client(ctx.socket, ctx.timeout);
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
