#include "daemon/keys/org_table.hpp"

#include "common/names.hpp"
#include "common/text.hpp"
#include "daemon/keys/key_command.hpp"
#include "daemon/platform/files.hpp"
#include "daemon/platform/folder_walk.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/upstream/url.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <stdexcept>

namespace actoken {
namespace {

// Per-org settings stored beside a runtime key: `<key_dir>/<org>.json`.
struct key_metadata {
  std::optional<std::string> auth_url;
  std::optional<upstream::api_version> api_version;
};

// Reads `<key_dir>/<org>.json` through the private-file reader: a file that
// is refused (a FIFO, another user's, too large...) or not a JSON object is
// ignored, and why goes to `problems`. A missing file is no problem.
key_metadata read_metadata(const std::filesystem::path& path, uid_t daemon_uid,
                           std::vector<std::string>& problems) {
  key_metadata meta;
  std::string text;
  const auto read = platform::read_private_file(path, {.daemon_uid = daemon_uid}, text);
  if (read.missing()) return meta;
  if (!read.ok()) {
    problems.push_back("settings file " + read.problem + "; ignored");
    return meta;
  }
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_object()) {
    problems.push_back("settings file " + path.string() + " is not a JSON object; ignored");
    return meta;
  }
  if (const auto it = json.find("auth_url"); it != json.end() && it->is_string()) {
    if (auto server = upstream::parse_auth_url(it->get_ref<const std::string&>())) {
      meta.auth_url = std::move(server->text);
    } else {
      problems.push_back("settings file " + path.string() +
                         ": auth_url is not an https:// URL; ignored");
    }
  }
  if (const auto it = json.find("api_version"); it != json.end() && it->is_string()) {
    meta.api_version = upstream::parse_api_version(it->get<std::string>());
  }
  return meta;
}

}  // namespace

std::string_view to_string(key_source source) noexcept {
  switch (source) {
    case key_source::config:
      return "config";
    case key_source::key_dir:
      return "key_dir";
    case key_source::runtime:
      return "runtime";
    case key_source::command:
      return "command";
  }
  return "config";
}

bool org_settings::same_exchange_inputs(const org_settings& other) const noexcept {
  const bool same_key = (key == other.key) || (key && other.key && *key == *other.key);
  return same_key && auth_url == other.auth_url && api_version == other.api_version &&
         scope == other.scope;
}

platform::shared_key read_key_file(const std::filesystem::path& path, uid_t daemon_uid,
                                   std::string& problem, bool systemd_credential) {
  platform::secure_buffer contents;
  const auto read = platform::read_private_file(
      path, {.daemon_uid = daemon_uid, .systemd_credential = systemd_credential}, contents);
  if (!read.ok()) {
    problem = "key file " + read.problem;
    return nullptr;
  }

  // The key is the first line, surrounding white space ignored.
  const auto key = trim(contents.view().substr(0, contents.view().find('\n')));
  if (key.empty()) {
    problem = "key file " + path.string() + " is empty";
    return nullptr;
  }
  return std::make_shared<const platform::secure_buffer>(key);
}

std::string key_dir_problem(const std::filesystem::path& key_dir, uid_t daemon_uid) {
  const auto check = platform::check_private_folder(key_dir, daemon_uid);
  return check.refused() ? "key_dir " + check.problem + "; nothing is read from it" : "";
}

namespace {

// key_dir as the walk reaches it for the daemon's user (SPEC §6 "Every file
// the daemon writes or deletes"); created 0700 when `create`.
platform::walk_result walk_to_key_dir(const std::filesystem::path& key_dir, uid_t daemon_uid,
                                      bool create) {
  return platform::walk_to_folder(
      key_dir, {.daemon_uid = daemon_uid,
                .create_mode = create ? std::optional<mode_t>(0700) : std::nullopt});
}

}  // namespace

std::size_t remove_stale_key_files(const std::filesystem::path& key_dir, uid_t daemon_uid) {
  const auto walked = walk_to_key_dir(key_dir, daemon_uid, /*create=*/false);
  if (!walked.ok()) return 0;
  return platform::remove_stale_temporary_files(
      walked.folder.get(), daemon_uid, [](std::string_view final_name) {
        const std::filesystem::path name(final_name);
        const auto extension = name.extension();
        return (extension == ".key" || extension == ".json") &&
               is_valid_org_name(name.stem().string());
      });
}

namespace {

// What one organization is built from.
struct org_inputs {
  const std::string& name;
  const org_config* configured;               // its entry in the config, if any
  const runtime_key* added;                   // its runtime key, if any
  bool in_key_dir;                            // <key_dir>/<name>.key exists
  const std::string& dir_problem;             // why key_dir is refused, "" when it is not
  const command_key* from_command = nullptr;  // what its key_command gave, if it has one
};

// The names: the config's organizations, `<key_dir>/<name>.key`, runtime
// keys; each with whether key_dir has its key file.
std::map<std::string, bool> org_names(const config& cfg,
                                      const std::map<std::string, runtime_key>& runtime,
                                      bool read_key_dir) {
  std::map<std::string, bool> names;
  for (const auto& [name, org] : cfg.organizations) names.emplace(name, false);
  for (const auto& [name, key] : runtime) names.emplace(name, false);
  if (!read_key_dir) return names;
  // Names only: listing stats nothing, so no entry is opened here.
  std::error_code ec;
  for (std::filesystem::directory_iterator it(cfg.key_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const auto& path = it->path();
    if (path.extension() == ".key" && is_valid_org_name(path.stem().string())) {
      names[path.stem().string()] = true;
    }
  }
  return names;
}

// Key precedence (SPEC §2): runtime, the config's key_command, the config's
// key_file, <key_dir>/<name>.key.
void choose_key(const config& cfg, const org_inputs& in, uid_t daemon_uid, org_settings& settings) {
  const auto* org = in.configured;
  if (in.added != nullptr) {
    settings.key = in.added->key;
    settings.source = key_source::runtime;
  } else if (org != nullptr && org->key_command) {
    settings.source = key_source::command;
    if (const auto* given = in.from_command) {
      settings.key = given->key;
      settings.command = given->running;
      settings.key_problem = given->problem;
    }
    if (!settings.key && settings.key_problem.empty()) {
      settings.key_problem =
          settings.command ? "its key_command is still running" : "its key_command has not run";
    }
    // Still running is not a refusal: /v1/orgs shows it as the state, not a problem.
    if (!settings.key && !settings.command) settings.problems.push_back(settings.key_problem);
    settings.config_key_file = true;
    return;
  } else if (org != nullptr && org->key_file) {
    settings.source = key_source::config;
    const bool credential =
        !cfg.credentials_dir.empty() &&
        org->key_file->parent_path().lexically_normal() == cfg.credentials_dir.lexically_normal();
    settings.key = read_key_file(*org->key_file, daemon_uid, settings.key_problem, credential);
  } else if (in.in_key_dir) {
    settings.source = key_source::key_dir;
    settings.key =
        read_key_file(cfg.key_dir / (in.name + ".key"), daemon_uid, settings.key_problem);
  } else if (!in.dir_problem.empty()) {
    settings.source = key_source::key_dir;  // where its key would come from
    settings.key_problem = in.dir_problem;
  } else {
    settings.key_problem =
        "organization " + in.name + " has no key; add one with `actoken key add " + in.name + "`";
  }
  if (settings.source && !settings.key) settings.problems.push_back(settings.key_problem);
  settings.config_key_file = org != nullptr && (org->key_file || org->key_command);
}

// Settings: the config's defaults, the key's own metadata, the config's
// per-organization entry, each over the one before.
void choose_settings(const config& cfg, const org_inputs& in, uid_t daemon_uid,
                     org_settings& settings) {
  settings.auth_url = cfg.auth_url;
  settings.api_version = cfg.api_version;
  settings.scope = cfg.scope;
  key_metadata meta;
  if (in.added != nullptr) {
    meta = {in.added->auth_url, in.added->api_version};
  } else if (in.in_key_dir && settings.source == key_source::key_dir) {
    meta = read_metadata(cfg.key_dir / (in.name + ".json"), daemon_uid, settings.problems);
  }
  if (meta.auth_url) settings.auth_url = *meta.auth_url;
  if (meta.api_version) settings.api_version = *meta.api_version;
  if (const auto* org = in.configured) {
    if (org->auth_url) settings.auth_url = *org->auth_url;
    if (org->api_version) settings.api_version = *org->api_version;
    if (org->scope) settings.scope = *org->scope;
    settings.allow = org->allow;
    settings.sub_organizations = org->sub_organizations;
  }
  // Parsed once, here: exchanges use the parse (every input went through
  // the same rule, so it cannot fail for a table built from them).
  if (auto server = upstream::parse_auth_url(settings.auth_url)) {
    settings.server = std::make_shared<const upstream::url>(std::move(server->parsed));
  }
}

}  // namespace

org_table load_org_table(const config& cfg, const std::map<std::string, runtime_key>& runtime,
                         uid_t daemon_uid, const std::map<std::string, command_key>& commands) {
  const auto dir_problem = key_dir_problem(cfg.key_dir, daemon_uid);
  if (!dir_problem.empty()) spdlog::warn("{}", dir_problem);
  org_table table;
  for (const auto& [name, in_key_dir] : org_names(cfg, runtime, dir_problem.empty())) {
    const auto org = cfg.organizations.find(name);
    const auto added = runtime.find(name);
    const auto given = commands.find(name);
    const org_inputs in{name,
                        org == cfg.organizations.end() ? nullptr : &org->second,
                        added == runtime.end() ? nullptr : &added->second,
                        in_key_dir,
                        dir_problem,
                        given == commands.end() ? nullptr : &given->second};
    auto settings = std::make_shared<org_settings>();
    settings->name = name;
    choose_key(cfg, in, daemon_uid, *settings);
    choose_settings(cfg, in, daemon_uid, *settings);
    // Each refusal is logged; a missing key alone is not worth a warning twice.
    for (const auto& problem : settings->problems) {
      // A key_command's failure was logged when it ended, not at every rebuild.
      if (settings->source == key_source::command && problem == settings->key_problem) continue;
      spdlog::warn("organization {}: {}", name, problem);
    }
    if (!settings->source && !settings->key_problem.empty()) {
      spdlog::warn("organization {}: {}", name, settings->key_problem);
    }
    table.emplace(name, std::move(settings));
  }
  return table;
}

org_settings settings_with_key(const config& cfg, const std::string& name,
                               const runtime_key& added) {
  const auto org = cfg.organizations.find(name);
  const std::string no_problem;
  const org_inputs in{name, org == cfg.organizations.end() ? nullptr : &org->second, &added,
                      /*in_key_dir=*/false, no_problem};
  org_settings settings;
  settings.name = name;
  choose_key(cfg, in, ::geteuid(), settings);
  choose_settings(cfg, in, ::geteuid(), settings);
  return settings;
}

void persist_key(const std::filesystem::path& key_dir, const std::string& org,
                 const platform::secure_buffer& key, const std::optional<std::string>& auth_url,
                 const std::optional<upstream::api_version>& api_version) {
  // A key is never written where another user could take or replace it:
  // every folder on the way is judged, and the files are written relative to
  // the last one's descriptor.
  const auto walked = walk_to_key_dir(key_dir, ::geteuid(), /*create=*/true);
  if (!walked.ok()) throw std::runtime_error("key_dir " + walked.problem);
  const int folder = walked.folder.get();
  platform::secure_buffer contents;
  contents.reserve(key.size() + 1);
  contents.append(key.view());
  contents.push_back('\n');
  if (auto problem = platform::replace_file(folder, key_dir / (org + ".key"), contents.view())) {
    throw std::runtime_error(*problem);
  }
  const auto meta_path = key_dir / (org + ".json");
  std::optional<std::string> problem;
  if (auth_url || api_version) {
    nlohmann::json meta = nlohmann::json::object();
    if (auth_url) meta["auth_url"] = *auth_url;
    if (api_version) meta["api_version"] = std::string(upstream::to_string(*api_version));
    problem = platform::replace_file(folder, meta_path, meta.dump(2) + "\n");
  } else if (auto removed = platform::remove_file(folder, meta_path); !removed.problem.empty()) {
    problem = std::move(removed.problem);
  }
  if (problem) throw std::runtime_error(*problem);
}

bool remove_persisted_key(const std::filesystem::path& key_dir, const std::string& org) {
  const auto walked = walk_to_key_dir(key_dir, ::geteuid(), /*create=*/false);
  if (walked.missing) return false;
  if (!walked.ok()) throw std::runtime_error("key_dir " + walked.problem);
  const auto key = platform::remove_file(walked.folder.get(), key_dir / (org + ".key"));
  const auto meta = platform::remove_file(walked.folder.get(), key_dir / (org + ".json"));
  if (!key.problem.empty()) throw std::runtime_error(key.problem);
  if (!meta.problem.empty()) throw std::runtime_error(meta.problem);
  return key.removed;
}

std::string no_key_hint(const org_settings& org) {
  if (org.source == key_source::command) return std::string(key_command_hint);
  if (org.config_key_file) {
    return "its key comes from organizations." + org.name +
           ".key_file in the config: fix that file or the setting, then reload";
  }
  if (org.key_problem.find("actoken key add") != std::string::npos) return "";
  return "add a key with `actoken key add " + org.name + "`";
}

}  // namespace actoken
