#include "client/daemon_reply.hpp"
#include "common/paths.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>

using actoken::client::call_result;
using actoken::client::describe_transport_error;
using actoken::client::http_response;
using actoken::client::interpret_reply;
using actoken::client::transport_error;

namespace {

http_response answer(unsigned status, std::string body) {
  http_response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

http_response error_answer(unsigned status, const std::string& code, const std::string& message) {
  return answer(status, R"({"error":")" + code + R"(","message":")" + message + R"("})");
}

}  // namespace

TEST_CASE("a 2xx JSON object is a success with its fields in order") {
  const auto reply = interpret_reply(answer(200, R"({"z":1,"a":"x"})"));
  REQUIRE(reply.ok);
  CHECK(reply.exit_code == 0);
  CHECK(reply.body.dump() == R"({"z":1,"a":"x"})");
}

TEST_CASE("a 2xx that is not a JSON object is a failure") {
  for (const char* body : {"", "not json", "[1,2]", "\"text\""}) {
    CAPTURE(body);
    const auto reply = interpret_reply(answer(200, body));
    CHECK_FALSE(reply.ok);
    CHECK(reply.exit_code == 1);
    CHECK(reply.message.find("unexpected answer") != std::string::npos);
  }
}

TEST_CASE("daemon error codes map to the SPEC §5 exit codes, message shown as is") {
  struct expectation {
    unsigned status;
    const char* code;
    int exit;
  };
  const expectation table[] = {
      {400, "bad_request", 1},          {403, "forbidden", 4},
      {404, "unknown_org", 5},          {409, "no_key", 5},
      {409, "ttl_unsatisfiable", 1},    {409, "key_managed_by_config", 1},
      {502, "key_rejected", 6},         {502, "upstream_tls", 1},
      {502, "endpoint_not_found", 1},   {502, "bad_upstream_response", 1},
      {503, "upstream_unavailable", 7}, {503, "rate_limited", 7},
      {504, "upstream_timeout", 7},     {413, "payload_too_large", 1},
  };
  for (const auto& row : table) {
    CAPTURE(row.code);
    const auto reply =
        interpret_reply(error_answer(row.status, row.code, "it went wrong for acme"));
    CHECK_FALSE(reply.ok);
    CHECK(reply.exit_code == row.exit);
    REQUIRE(reply.code.has_value());
    CHECK(actoken::code_name(*reply.code) == row.code);
    CHECK(reply.message.starts_with("it went wrong for acme"));
  }
}

TEST_CASE("no_key is printed as the daemon worded it; unknown_org never suggests a key") {
  // The daemon's hint depends on where the key comes from: the CLI adds none of its own
  // (`actoken key add` is refused for a key_command's or a config key_file's organization).
  const auto command = interpret_reply(error_answer(
      409, "no_key", "acme has no usable key: key_command failed; restart the daemon"));
  CHECK(command.exit_code == 5);
  CHECK(command.message == "acme has no usable key: key_command failed; restart the daemon");
  const auto hinted = interpret_reply(
      error_answer(409, "no_key", "acme has no key; add one with `actoken key add acme`"));
  CHECK(hinted.message == "acme has no key; add one with `actoken key add acme`");
  // SPEC §5: a mistyped name is never offered as a place to store a key.
  const auto typo =
      interpret_reply(error_answer(404, "unknown_org", "no organization named acmee"));
  CHECK(typo.exit_code == 5);
  CHECK(typo.message == "no organization named acmee");
  const auto other = interpret_reply(error_answer(502, "key_rejected", "rejected"));
  CHECK(other.message == "rejected");
}

TEST_CASE("unknown codes and non-JSON errors fall back on the HTTP status") {
  CHECK(interpret_reply(error_answer(403, "brand_new_code", "no")).exit_code == 4);
  CHECK(interpret_reply(error_answer(503, "brand_new_code", "later")).exit_code == 7);
  CHECK(interpret_reply(error_answer(504, "brand_new_code", "later")).exit_code == 7);
  CHECK(interpret_reply(error_answer(418, "brand_new_code", "teapot")).exit_code == 1);
  auto bare = answer(500, "<html>oops</html>");
  bare.reason = "Internal Server Error";
  const auto reply = interpret_reply(bare);
  CHECK(reply.exit_code == 1);
  CHECK_FALSE(reply.code.has_value());
  CHECK(reply.message == "actokend answered HTTP 500 Internal Server Error");
  const auto no_message = interpret_reply(answer(409, R"({"error":"no_key"})"));
  CHECK(no_message.exit_code == 5);
  CHECK(no_message.message.starts_with("actokend answered HTTP 409 (no_key)"));
}

TEST_CASE("messages stay on one line and bounded") {
  const auto reply = interpret_reply(
      answer(400, R"({"error":"bad_request","message":"line one\nline two\u001b[31m"})"));
  CHECK(reply.message.find('\n') == std::string::npos);
  CHECK(reply.message.find('\x1b') == std::string::npos);
  CHECK(actoken::client::one_line(std::string(1000, 'x'), 10) == "xxxxxxxxxx...");
}

TEST_CASE("transport failures: 3 names the socket and how to start the daemon, 4 for EACCES") {
  call_result missing;
  missing.error = transport_error::no_socket;
  missing.detail = "No such file or directory";
  const auto user = describe_transport_error(missing, "/tmp/actoken-1000/actokend.sock");
  CHECK(user.exit_code == 3);
  CHECK(user.message.find("/tmp/actoken-1000/actokend.sock") != std::string::npos);
  CHECK(user.message.find("`systemctl --user start actokend.socket` (or `actokend &`)") !=
        std::string::npos);
  CHECK(user.message.find("sudo") == std::string::npos);

  call_result refused;
  refused.error = transport_error::refused;
  refused.detail = "Connection refused";
  CHECK(describe_transport_error(refused, "/s").exit_code == 3);

  call_result denied;
  denied.error = transport_error::permission;
  const auto permission = describe_transport_error(denied, "/run/actoken/actokend.sock");
  CHECK(permission.exit_code == 4);
  CHECK(permission.message.find("/run/actoken/actokend.sock") != std::string::npos);

  call_result timeout;
  timeout.error = transport_error::timeout;
  CHECK(describe_transport_error(timeout, "/s").exit_code == 3);

  call_result garbled;
  garbled.error = transport_error::protocol;
  garbled.detail = "not an HTTP response";
  const auto protocol = describe_transport_error(garbled, "/s");
  CHECK(protocol.exit_code == 1);
  CHECK(protocol.message.find("not an HTTP response") != std::string::npos);
}

TEST_CASE("the hint fits the socket: the user unit, the system unit, never sudo") {
  using actoken::client::owner_of_socket;
  using actoken::client::socket_owner;
  call_result missing;
  missing.error = transport_error::no_socket;
  missing.detail = "No such file or directory";
  const std::string system_socket = "/run/actoken/actokend.sock";

  // A build host: the system daemon is installed, it is what is not running.
  int asked = 0;
  const auto installed = [&asked] {
    ++asked;
    return true;
  };
  CHECK(owner_of_socket(system_socket, installed) == socket_owner::system);
  const auto system = describe_transport_error(missing, system_socket, socket_owner::system);
  CHECK(system.exit_code == 3);
  CHECK(system.message.find(system_socket) != std::string::npos);
  CHECK(system.message.find("`systemctl start actokend.socket` (as root)") != std::string::npos);
  CHECK(system.message.find("sudo") == std::string::npos);

  // A workstation with no system daemon: the system socket was the last resort,
  // and the user's own daemon is what is missing.
  const auto not_installed = [] { return false; };
  CHECK(owner_of_socket(system_socket, not_installed) == socket_owner::system_not_installed);
  const auto workstation =
      describe_transport_error(missing, system_socket, socket_owner::system_not_installed);
  CHECK(workstation.exit_code == 3);
  CHECK(workstation.message.find("no user daemon runs either") != std::string::npos);
  CHECK(workstation.message.find("`systemctl --user start actokend.socket` (or `actokend &`)") !=
        std::string::npos);
  CHECK(workstation.message.find("sudo") == std::string::npos);
  CHECK(workstation.message.find("systemctl start") == std::string::npos);

  // A user socket is a user daemon's: no need to look for unit files.
  asked = 0;
  CHECK(owner_of_socket("/run/user/1000/actoken/actokend.sock", installed) == socket_owner::user);
  CHECK(asked == 0);
}

TEST_CASE("a daemon that is not genuine: exit 3, `refusing PATH: why`") {
  call_result untrusted;
  untrusted.error = transport_error::untrusted;
  untrusted.detail = "its folder belongs to uid 65534, not to you, root or the actoken user";
  const auto report = describe_transport_error(untrusted, "/tmp/actoken-0/actokend.sock");
  CHECK(report.exit_code == 3);
  CHECK(report.message ==
        "refusing /tmp/actoken-0/actokend.sock: its folder belongs to uid 65534, not to you, root "
        "or the actoken user");
}

TEST_CASE("odd error bodies: fields of the wrong type, no reason; 1xx and 3xx are errors") {
  const auto typed = interpret_reply(answer(500, R"({"error":5,"message":["x"]})"));
  CHECK(typed.exit_code == 1);
  CHECK(typed.message == "actokend answered HTTP 500");
  const auto redirect = interpret_reply(answer(302, "{}"));
  CHECK(redirect.exit_code == 1);
  CHECK(redirect.message == "actokend answered HTTP 302");
  CHECK(interpret_reply(answer(101, R"({"status":"ok"})")).exit_code == 1);
  // Control characters and DEL in a message are shown as spaces.
  CHECK(interpret_reply(error_answer(500, "internal", "a\\u0007b\\u007fc")).message == "a b c");
}

TEST_CASE("transport failures: every kind has its exit code and sentence") {
  const std::filesystem::path socket = "/run/user/1000/actoken/actokend.sock";
  const auto describe = [&](transport_error error, std::string detail = "why") {
    call_result result;
    result.error = error;
    result.detail = std::move(detail);
    return describe_transport_error(result, socket, actoken::client::socket_owner::user);
  };
  CHECK(describe(transport_error::none).exit_code == 0);
  CHECK(describe(transport_error::path_too_long, "socket path is longer than 107 bytes").message ==
        "cannot reach actokend at " + socket.string() + ": socket path is longer than 107 bytes");
  CHECK(describe(transport_error::io, "Input/output error").message ==
        "cannot talk to actokend at " + socket.string() + ": Input/output error");
  CHECK(describe(transport_error::io).exit_code == 3);
  CHECK(actoken::client::owner_of_socket(actoken::system_socket_path(), nullptr) ==
        actoken::client::socket_owner::system_not_installed);
}

TEST_CASE("--json's error object: the daemon's as sent, else one made from the status") {
  const auto known = interpret_reply(error_answer(404, "unknown_org", "no organization named x"));
  CHECK(known.error_object.dump() ==
        R"({"error":"unknown_org","message":"no organization named x"})");
  const auto newer =
      interpret_reply(answer(418, R"({"error":"teapot","message":"short and stout","extra":1})"));
  CHECK(newer.error_object.dump() == R"({"error":"teapot","message":"short and stout","extra":1})");
  const auto bare = interpret_reply(answer(500, "oops"));
  CHECK(bare.error_object["error"] == "unexpected_answer");
  CHECK(bare.error_object["message"] == bare.message);
  const auto not_object = interpret_reply(answer(200, "[]"));
  CHECK(not_object.error_object["error"] == "unexpected_answer");
}

TEST_CASE("Retry-After in whole seconds is the daemon's next try; anything else is not") {
  auto reply = error_answer(503, "upstream_unavailable", "down");
  reply.headers.emplace_back("Retry-After", "37");
  CHECK(interpret_reply(reply).retry_after == 37);
  for (const auto* odd : {"", "soon", "-1", "1.5", "9999999999", "Wed, 21 Oct 2026 07:28:00 GMT"}) {
    CAPTURE(odd);
    auto other = error_answer(503, "upstream_unavailable", "down");
    other.headers.emplace_back("Retry-After", odd);
    CHECK_FALSE(interpret_reply(other).retry_after.has_value());
  }
  CHECK_FALSE(interpret_reply(error_answer(503, "upstream_unavailable", "down")).retry_after);
  CHECK(actoken::client::with_next_try("down", 37) == "down; next try in 37 s");
  CHECK(actoken::client::with_next_try("down", std::nullopt) == "down");
}

TEST_CASE("transport failures name their --json error") {
  const auto error_of = [](transport_error error) {
    call_result result;
    result.error = error;
    result.detail = "why";
    return describe_transport_error(result, "/s").error;
  };
  CHECK(error_of(transport_error::no_socket) == "daemon_unreachable");
  CHECK(error_of(transport_error::refused) == "daemon_unreachable");
  CHECK(error_of(transport_error::timeout) == "daemon_unreachable");
  CHECK(error_of(transport_error::untrusted) == "daemon_unreachable");
  CHECK(error_of(transport_error::io) == "daemon_unreachable");
  CHECK(error_of(transport_error::permission) == "forbidden");
  CHECK(error_of(transport_error::protocol) == "unexpected_answer");
}

TEST_CASE("a refused connection names the group and the command that lets the caller in") {
  using actoken::client::denial_message;
  using actoken::client::platform::access_facts;
  const std::filesystem::path socket = "/run/actoken/actokend.sock";
  const std::string denied =
      "permission denied connecting to actokend at " + socket.string() + ": ";
  access_facts outsider;
  outsider.known = true;
  outsider.mode = 0660;
  outsider.gid = 998;
  outsider.group_name = "actoken";
  outsider.uid = 1006;
  outsider.user_name = "carol";
  CHECK(denial_message(socket, outsider) ==
        denied +
            "only members of group actoken may connect; ask an administrator to run: "
            "usermod -aG actoken carol, then log in again");
  auto since_login = outsider;
  since_login.listed = true;
  CHECK(denial_message(socket, since_login) ==
        denied +
            "you are in group actoken, but this session started before you were added; log "
            "in again (or run `newgrp actoken`)");
  auto nameless = outsider;
  nameless.user_name.reset();
  nameless.group_name.reset();
  CHECK(denial_message(socket, nameless) ==
        denied +
            "only members of group 998 may connect; ask an administrator to add your user "
            "(uid 1006) to group 998, then log in again");
  auto owner_only = outsider;
  owner_only.mode = 0600;
  CHECK(denial_message(socket, owner_only) ==
        denied +
            "the socket is open to its owner only (mode 0600); run a daemon of your own "
            "(`eval \"$(actokend --detach)\"`) or ask its administrator");
  auto folder = outsider;
  folder.folder = true;
  folder.mode = 0750;
  CHECK(denial_message(socket, folder) ==
        denied +
            "only members of group actoken may connect; ask an administrator to run: "
            "usermod -aG actoken carol, then log in again");
  folder.mode = 0700;
  CHECK(denial_message(socket, folder)
            .find("its folder /run/actoken is open to its owner only "
                  "(mode 0700)") != std::string::npos);
  auto carried = outsider;
  carried.carried = true;
  CHECK(denial_message(socket, carried).find("refuses you although you are in its group actoken") !=
        std::string::npos);
  CHECK(denial_message(socket, access_facts{}) ==
        denied + "ask its administrator for access to the socket (its group)");
  // Through describe_transport_error: exit 4, the same sentence.
  call_result result;
  result.error = transport_error::permission;
  const auto report =
      describe_transport_error(result, socket, actoken::client::socket_owner::system, &outsider);
  CHECK(report.exit_code == 4);
  CHECK(report.message == denial_message(socket, outsider));
}
