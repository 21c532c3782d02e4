#include "client/plain_token_args.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

namespace actoken::client {
namespace {

// Every command name: a bare word that is one of them is left to CLI11, which
// may read it as a command rather than as an organization.
constexpr std::array<std::string_view, 14> command_names{
    "token", "header", "exec",  "orgs", "status",           "ping",   "key",
    "add",   "remove", "flush", "env",  "appcircle-config", "whoami", "reload"};

bool is_command_name(std::string_view word) {
  return std::find(command_names.begin(), command_names.end(), word) != command_names.end();
}

// --min-ttl's value as CLI11 reads it, for the plain spelling only: decimal
// digits without a leading zero (CLI11 reads "010" as octal), 0..86400.
std::optional<int> plain_seconds(std::string_view text) {
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text.front() == '0')) {
    return std::nullopt;
  }
  int value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value = value * 10 + (c - '0');
  }
  return value <= 86400 ? std::optional<int>(value) : std::nullopt;
}

// One option that takes a value: the value, if it is there, plain, and not yet given.
bool take_value(const std::vector<std::string>& args, std::size_t& at,
                std::optional<std::string>& into) {
  if (into || at + 1 >= args.size()) {
    return false;
  }
  const std::string& value = args[++at];
  // CLI11 would read a value that looks like an option, or a command's name,
  // as that instead: the full parser decides what those mean.
  if (value.empty() || value.front() == '-' || is_command_name(value)) {
    return false;
  }
  into = value;
  return true;
}

// The parts of the command line as given, before they are checked.
struct plain_parts {
  bool token_seen = false;
  bool json = false;
  bool fresh = false;
  std::optional<std::string> socket;
  std::optional<std::string> positional_org;
  std::optional<std::string> org;
  std::optional<std::string> sub_org;
  std::optional<std::string> min_ttl;
};

// Takes `args[at]` (and its value) into `parts`; false for anything not plain.
bool take_argument(const std::vector<std::string>& args, std::size_t& at, plain_parts& parts) {
  const std::string& word = args[at];
  if (word == "--socket") {
    return take_value(args, at, parts.socket);
  }
  if (word == "--json") {
    return !std::exchange(parts.json, true);
  }
  if (!parts.token_seen) {
    parts.token_seen = word == "token";
    return parts.token_seen;
  }
  if (word == "--org") {
    return take_value(args, at, parts.org);
  }
  if (word == "--sub-org") {
    return take_value(args, at, parts.sub_org);
  }
  if (word == "--min-ttl") {
    return take_value(args, at, parts.min_ttl);
  }
  if (word == "--fresh") {
    return !std::exchange(parts.fresh, true);
  }
  if (word.empty() || word.front() == '-' || parts.positional_org || is_command_name(word)) {
    return false;
  }
  parts.positional_org = word;
  return true;
}

}  // namespace

std::optional<command_line> parse_plain_token_command(const std::vector<std::string>& args) {
  plain_parts parts;
  for (std::size_t at = 0; at < args.size(); ++at) {
    if (!take_argument(args, at, parts)) {
      return std::nullopt;
    }
  }
  const auto seconds = parts.min_ttl ? plain_seconds(*parts.min_ttl) : std::nullopt;
  const bool names_ok = (!parts.positional_org || valid_org_name(*parts.positional_org)) &&
                        (!parts.org || valid_org_name(*parts.org));
  const bool orgs_agree =
      !parts.positional_org || !parts.org || *parts.positional_org == *parts.org;
  if (!parts.token_seen || !names_ok || !orgs_agree || (parts.min_ttl && !seconds)) {
    return std::nullopt;
  }
  command_line command;
  command.kind = command_kind::token;
  command.socket = parts.socket;
  command.json = parts.json;
  command.token.org = parts.org ? parts.org : parts.positional_org;
  command.token.sub_org = parts.sub_org;
  command.token.min_ttl = seconds;
  command.token.fresh = parts.fresh;
  return command;
}

}  // namespace actoken::client
