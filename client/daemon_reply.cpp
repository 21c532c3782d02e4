#include "client/daemon_reply.hpp"

#include "client/daemon_trust.hpp"
#include "common/paths.hpp"
#include "common/text.hpp"

#include <utility>

namespace actoken::client {
namespace {

// For an error code newer than this CLI: judge by the HTTP status alone.
int exit_code_for_status(unsigned status) {
  if (status == 403) {
    return exit_code::permission;
  }
  if (status == 503 || status == 504) {
    return exit_code::unavailable;
  }
  return exit_code::failure;
}

std::string start_hint(socket_owner owner) {
  constexpr std::string_view elsewhere = "or point --socket or $ACTOKEN_SOCKET at a running daemon";
  switch (owner) {
    case socket_owner::system:
      return "start the system daemon with `systemctl start actokend.socket` (as root), " +
             std::string(elsewhere);
    case socket_owner::system_not_installed:
      // The system socket was the last resort: no user daemon runs either, and no
      // system daemon is installed. The user's own daemon is what is missing.
      return "no user daemon runs either: start yours with `systemctl --user start "
             "actokend.socket` (or `actokend &`), " +
             std::string(elsewhere);
    case socket_owner::user:
      break;
  }
  return "start it with `systemctl --user start actokend.socket` (or `actokend &`), " +
         std::string(elsewhere);
}

// `Retry-After` as whole seconds (the daemon sends nothing else); nullopt otherwise.
std::optional<std::int64_t> retry_after_of(const http_response& response) {
  const auto value = response.header("Retry-After");
  if (!value || value->empty() || value->size() > 9) {
    return std::nullopt;
  }
  std::int64_t seconds = 0;
  for (const char c : *value) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    seconds = seconds * 10 + (c - '0');
  }
  return seconds;
}

}  // namespace

std::string with_next_try(std::string message, std::optional<std::int64_t> retry_after) {
  if (retry_after) {
    message += "; next try in " + std::to_string(*retry_after) + " s";
  }
  return message;
}

std::string denial_message(const std::filesystem::path& socket,
                           const platform::access_facts& access) {
  const std::string denied = "permission denied connecting to actokend at " + socket.string();
  if (!access.known) {
    return denied + ": ask its administrator for access to the socket (its group)";
  }
  const std::string what =
      access.folder ? "its folder " + socket_folder(socket).string() : "the socket";
  // Connecting needs write permission on the socket and search permission on its folder.
  const mode_t group_bit = access.folder ? 0010 : 0020;
  const auto group = one_line(access.group_name.value_or(std::to_string(access.gid)), 64);
  if ((access.mode & group_bit) == 0) {
    return denied + ": " + what + " is open to its owner only (mode " + octal_mode(access.mode) +
           "); run a daemon of your own (`eval \"$(actokend --detach)\"`) or ask its "
           "administrator";
  }
  if (access.carried) {
    // The group would let us in and we have it: an ACL or a security module says no.
    return denied + ": " + what + " refuses you although you are in its group " + group +
           " (mode " + octal_mode(access.mode) + "); ask its administrator";
  }
  if (access.listed) {
    return denied + ": you are in group " + group +
           ", but this session started before you were added; log in again (or run `newgrp " +
           group + "`)";
  }
  const std::string only = denied + ": only members of group " + group + " may connect; ";
  if (!access.user_name) {
    return only + "ask an administrator to add your user (uid " + std::to_string(access.uid) +
           ") to group " + group + ", then log in again";
  }
  return only + "ask an administrator to run: usermod -aG " + group + " " +
         one_line(*access.user_name, 64) + ", then log in again";
}

std::string one_line(std::string_view text, std::size_t max_size) {
  std::string line;
  line.reserve(text.size() < max_size ? text.size() : max_size + 3);
  for (const char c : text) {
    if (line.size() >= max_size) {
      line += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    line.push_back(byte < 0x20 || byte == 0x7f ? ' ' : c);
  }
  return line;
}

daemon_reply interpret_reply(const http_response& response) {
  daemon_reply reply;
  auto body = nlohmann::ordered_json::parse(response.body, nullptr, false);
  const bool is_object = !body.is_discarded() && body.is_object();

  if (response.status >= 200 && response.status < 300) {
    if (is_object) {
      reply.ok = true;
      reply.body = std::move(body);
      return reply;
    }
    reply.exit_code = exit_code::failure;
    reply.message = "unexpected answer from actokend (HTTP " + std::to_string(response.status) +
                    " without a JSON object)";
    reply.error_object = {{"error", "unexpected_answer"}, {"message", reply.message}};
    return reply;
  }
  reply.retry_after = retry_after_of(response);

  std::string name;
  std::string message;
  if (is_object) {
    if (const auto it = body.find("error"); it != body.end() && it->is_string()) {
      name = it->get<std::string>();
    }
    if (const auto it = body.find("message"); it != body.end() && it->is_string()) {
      message = it->get<std::string>();
    }
  }
  reply.code = actoken::errc_from_name(name);
  reply.exit_code =
      reply.code ? actoken::cli_exit_code(*reply.code) : exit_code_for_status(response.status);

  if (message.empty()) {
    message = "actokend answered HTTP " + std::to_string(response.status);
    if (!name.empty()) {
      message += " (" + name + ")";
    } else if (!response.reason.empty()) {
      message += " " + response.reason;
    }
  }
  reply.message = one_line(message);
  if (is_object && !name.empty()) {
    reply.error_object = std::move(body);
  } else {
    reply.error_object = {{"error", name.empty() ? std::string("unexpected_answer") : name},
                          {"message", reply.message}};
  }
  // A no_key message carries the daemon's own hint, which depends on where the
  // key comes from (`actoken key add` is refused for a key_command or a config
  // key_file): printed as the daemon worded it, like a forbidden one.
  return reply;
}

socket_owner owner_of_socket(const std::filesystem::path& socket,
                             const std::function<bool()>& installed) {
  if (socket != actoken::system_socket_path()) {
    return socket_owner::user;
  }
  return installed && installed() ? socket_owner::system : socket_owner::system_not_installed;
}

transport_report describe_transport_error(const call_result& result,
                                          const std::filesystem::path& socket, socket_owner owner,
                                          const platform::access_facts* access) {
  const std::string where = "actokend at " + socket.string();
  const auto unreachable = [](std::string message) -> transport_report {
    return {exit_code::unreachable, std::move(message), "daemon_unreachable"};
  };
  switch (result.error) {
    case transport_error::none:
      return {exit_code::ok, "", ""};
    case transport_error::permission:
      return {exit_code::permission,
              denial_message(socket, access != nullptr ? *access : platform::access_facts{}),
              "forbidden"};
    case transport_error::no_socket:
    case transport_error::refused:
      return unreachable("cannot reach " + where + ": " + result.detail + "; " + start_hint(owner));
    case transport_error::path_too_long:
      return unreachable("cannot reach " + where + ": " + result.detail);
    case transport_error::timeout:
      return unreachable(where + " did not answer in time");
    case transport_error::closed:
      return unreachable(where + " closed the connection without answering (" +
                         one_line(result.detail) + ")");
    case transport_error::protocol:
      return {exit_code::failure,
              "unexpected answer from " + where + ": " + one_line(result.detail),
              "unexpected_answer"};
    case transport_error::untrusted:
      // Not "cannot reach": something answers there, and it is not to be trusted.
      return unreachable("refusing " + socket.string() + ": " + result.detail);
    case transport_error::io:
      break;
  }
  return unreachable("cannot talk to " + where + ": " + one_line(result.detail));
}

}  // namespace actoken::client
