#include "client/daemon_reply.hpp"

#include "common/paths.hpp"

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

}  // namespace

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

daemon_reply interpret_reply(const http_response& response, std::string_view org) {
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
    return reply;
  }

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
  if (reply.code == actoken::errc::no_key &&
      reply.message.find("actoken key add") == std::string::npos) {
    reply.message += "; add a key with `actoken key add " +
                     (org.empty() ? std::string("ORG") : one_line(org, 64)) + "`";
  }
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
                                          const std::filesystem::path& socket, socket_owner owner) {
  const std::string where = "actokend at " + socket.string();
  switch (result.error) {
    case transport_error::none:
      return {exit_code::ok, ""};
    case transport_error::permission:
      return {exit_code::permission,
              "permission denied connecting to " + where +
                  ": ask its administrator for access to the socket (its group)"};
    case transport_error::no_socket:
    case transport_error::refused:
      return {exit_code::unreachable,
              "cannot reach " + where + ": " + result.detail + "; " + start_hint(owner)};
    case transport_error::path_too_long:
      return {exit_code::unreachable, "cannot reach " + where + ": " + result.detail};
    case transport_error::timeout:
      return {exit_code::unreachable, where + " did not answer in time"};
    case transport_error::closed:
      return {exit_code::unreachable,
              where + " closed the connection without answering (" + one_line(result.detail) + ")"};
    case transport_error::protocol:
      return {exit_code::failure,
              "unexpected answer from " + where + ": " + one_line(result.detail)};
    case transport_error::untrusted:
      // Not "cannot reach": something answers there, and it is not to be trusted.
      return {exit_code::unreachable, "refusing " + socket.string() + ": " + result.detail};
    case transport_error::io:
      break;
  }
  return {exit_code::unreachable, "cannot talk to " + where + ": " + one_line(result.detail)};
}

}  // namespace actoken::client
