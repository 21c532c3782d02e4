#include "client/appcircle_config.hpp"

#include <string.h>

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace actoken::client {
namespace {

using json = nlohmann::ordered_json;

constexpr int max_depth = 64;
constexpr std::string_view token_field = "AC_ACCESS_TOKEN";

// A new environment as the Appcircle CLI makes one (`DefaultEnvironmentVariables`).
json default_environment() {
  return json{{"API_HOSTNAME", appcircle_public_api},
              {"AUTH_HOSTNAME", appcircle_public_auth},
              {token_field, ""}};
}

appcircle_config_check refused(std::string problem) { return {std::nullopt, std::move(problem)}; }

// Parses `text`, noting how deep it nests; a parse error says where, never what.
appcircle_config_check parse_document(std::string_view text, json& document) {
  int deepest = 0;
  try {
    document = json::parse(
        text,
        [&deepest](int depth, json::parse_event_t, json&) {
          deepest = std::max(deepest, depth);
          return true;
        },
        true, false);
  } catch (const json::parse_error& error) {
    return refused("is not JSON (error at byte " + std::to_string(error.byte) + ")");
  }
  if (deepest > max_depth) {
    return refused("nests deeper than " + std::to_string(max_depth) + " levels");
  }
  if (!document.is_object()) {
    return refused("is not a JSON object");
  }
  return {};
}

// `current` as the Appcircle CLI reads it (`config.get('current') || 'default'`).
appcircle_config_check current_environment(const json& document, std::string& environment) {
  environment = "default";
  const auto current = document.find("current");
  if (current == document.end() || current->is_null()) {
    return {};
  }
  if (!current->is_string()) {
    return refused("its \"current\" is not a string");
  }
  if (!current->get_ref<const std::string&>().empty()) {
    environment = current->get<std::string>();
  }
  // The Appcircle CLI reads `envs.<current>.AC_ACCESS_TOKEN` as a dotted path: a
  // dot in the name would send it (and us) to another place in the file.
  if (environment.find('.') != std::string::npos) {
    return refused(
        "its current environment's name has a '.', which the Appcircle CLI reads as "
        "a path; switch to another environment with `appcircle config current`");
  }
  return {};
}

std::optional<std::string> string_field(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

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

std::filesystem::path appcircle_config_path(const env_lookup& env, uid_t uid) {
  // ${XDG_CONFIG_HOME:-$HOME/.config}, as for actoken's own config folder.
  return actoken::user_config_dir(env, uid).parent_path() / "@appcircle" / "cli-nodejs" /
         "config.json";
}

appcircle_config_check check_appcircle_config(std::optional<std::string_view> text) {
  appcircle_config config;
  if (!text) {
    config.created_file = true;
    config.document = json::object();
  } else if (auto problem = parse_document(*text, config.document); !problem.problem.empty()) {
    return problem;
  }
  if (auto problem = current_environment(config.document, config.environment);
      !problem.problem.empty()) {
    return problem;
  }
  // Without `current` the Appcircle CLI rewrites the whole file as it starts (conf
  // merges its defaults in), and it writes mode 0666: written here, it need not.
  if (!config.document.contains("current")) {
    config.document["current"] = config.environment;
  }
  auto& envs = config.document["envs"];  // null when missing: becomes an object below
  if (envs.is_null()) {
    envs = json::object();
  }
  if (!envs.is_object()) {
    return refused("its \"envs\" is not an object");
  }
  auto& environment = envs[config.environment];
  if (environment.is_null()) {
    environment = default_environment();
    config.created_environment = !config.created_file;
  }
  if (!environment.is_object()) {
    return refused("its environment \"" + config.environment + "\" is not an object");
  }
  config.auth_hostname = string_field(environment, "AUTH_HOSTNAME");
  config.api_hostname = string_field(environment, "API_HOSTNAME");
  return {std::move(config), {}};
}

std::string render_with_token(appcircle_config& config, std::string_view token) {
  auto& field = config.document["envs"][config.environment][token_field];
  field = std::string(token);
  auto text = config.document.dump(1, '\t', false, json::error_handler_t::strict);
  auto& stored = field.get_ref<std::string&>();
  ::explicit_bzero(stored.data(), stored.size());
  stored.clear();
  return text;
}

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
