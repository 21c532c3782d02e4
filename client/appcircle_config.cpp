#include "client/appcircle_config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace actoken::client {
namespace {

// The scheme and authority lower-cased, trailing slashes dropped.
std::string normalized_server(std::string_view url) {
  while (!url.empty() && url.back() == '/') {
    url.remove_suffix(1);
  }
  std::string out(url);
  const auto scheme_end = out.find("://");
  const auto authority_end =
      scheme_end == std::string::npos ? out.size() : out.find('/', scheme_end + 3);
  std::transform(out.begin(),
                 out.begin() + static_cast<std::ptrdiff_t>(std::min(authority_end, out.size())),
                 out.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

bool same_server(std::string_view a, std::string_view b) {
  return normalized_server(a) == normalized_server(b);
}

std::optional<std::string> host_warning(const appcircle_config& config,
                                        const std::filesystem::path& path, std::string_view org,
                                        std::string_view auth_url) {
  if (auth_url.empty()) {
    return std::nullopt;
  }
  const std::string where = "environment \"" + config.environment + "\" of " + path.string();
  const std::string set_hosts =
      "set yours with `appcircle config set API_HOSTNAME <your API "
      "server>` and `appcircle config set AUTH_HOSTNAME " +
      std::string(auth_url) + "`";
  if (config.created_file || config.created_environment) {
    if (same_server(auth_url, appcircle_public_auth)) {
      return std::nullopt;
    }
    return "organization " + std::string(org) + " uses the auth server " + std::string(auth_url) +
           ", but the new " + where + " names Appcircle's public servers; " + set_hosts;
  }
  if (config.auth_hostname && same_server(*config.auth_hostname, auth_url)) {
    return std::nullopt;
  }
  return where + " has AUTH_HOSTNAME " + config.auth_hostname.value_or("(none)") +
         ", but organization " + std::string(org) + "'s auth server is " + std::string(auth_url) +
         ": the Appcircle CLI will send this token to API_HOSTNAME " +
         config.api_hostname.value_or("(none)") + "; if that is wrong, " + set_hosts;
}

std::optional<std::string> folder_warning(const std::filesystem::path& folder, unsigned mode) {
  if ((mode & 0077U) == 0) {
    return std::nullopt;
  }
  char octal[8];
  std::snprintf(octal, sizeof octal, "%04o", mode & 07777U);
  return "other users may enter " + folder.string() + " (mode " + octal +
         "), and the Appcircle CLI makes its config mode 0666 whenever it saves it; `chmod 700 " +
         folder.string() + "` keeps the token yours";
}

}  // namespace actoken::client
