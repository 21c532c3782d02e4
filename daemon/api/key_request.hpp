#pragma once

/// @file
/// The body of `PUT /v1/orgs/{org}/key` (SPEC §4), read without leaving the
/// key behind: a general JSON library keeps strings in ordinary heap memory
/// (its lexer's token buffer, the DOM's strings, their freed copies), so this
/// small reader of one flat object decodes the key straight into locked
/// memory. Pure: text in, request or reason out.

#include "daemon/platform/secure_memory.hpp"
#include "daemon/upstream/api_version.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace actoken::api {

/// What a key PUT asks for.
struct key_request {
  platform::secure_buffer key;  ///< surrounding white space trimmed
  std::optional<std::string> auth_url;
  std::optional<upstream::api_version> api_version;
  bool persist = true;
  /// Exchange the key once before keeping it; a failure changes nothing.
  bool verify = false;
};

/// Reads `{"key", "auth_url"?, "api_version"?, "persist"?, "verify"?}`. A reason for the
/// caller's `bad_request` when the body is not that object, a field is
/// unknown, repeated or of the wrong type, or the key is empty or has white
/// space or a control character inside. No reason ever quotes the key.
std::variant<key_request, std::string> parse_key_request(std::string_view body);

}  // namespace actoken::api
