#include "common/appcircle_config.hpp"

#include <string.h>

#include <algorithm>

namespace actoken {
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

}  // namespace actoken
