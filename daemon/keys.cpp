#include "daemon/keys.hpp"

#include "common/names.hpp"
#include "common/text.hpp"
#include "daemon/platform/files.hpp"
#include "daemon/platform/private_file.hpp"
#include "daemon/upstream/url.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

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

std::size_t remove_stale_key_files(const std::filesystem::path& key_dir, uid_t daemon_uid) {
  if (!key_dir_problem(key_dir, daemon_uid).empty()) return 0;
  return platform::remove_stale_temporary_files_in(
      key_dir, daemon_uid, [](std::string_view final_name) {
        const std::filesystem::path name(final_name);
        const auto extension = name.extension();
        return (extension == ".key" || extension == ".json") &&
               is_valid_org_name(name.stem().string());
      });
}

org_table load_org_table(const config& cfg, const std::map<std::string, runtime_key>& runtime,
                         uid_t daemon_uid) {
  // Names: the config's organizations, `<key_dir>/<name>.key`, runtime keys.
  std::map<std::string, bool> names;  // name -> has a key_dir file
  for (const auto& [name, org] : cfg.organizations) names.emplace(name, false);
  for (const auto& [name, key] : runtime) names.emplace(name, false);
  const auto dir_problem = key_dir_problem(cfg.key_dir, daemon_uid);
  if (!dir_problem.empty()) {
    spdlog::warn("{}", dir_problem);
  } else {
    // Names only: listing stats nothing, so no entry is opened here.
    std::error_code ec;
    for (std::filesystem::directory_iterator it(cfg.key_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      const auto& path = it->path();
      if (path.extension() == ".key" && is_valid_org_name(path.stem().string())) {
        names[path.stem().string()] = true;
      }
    }
  }

  org_table table;
  for (const auto& [name, in_key_dir] : names) {
    auto settings = std::make_shared<org_settings>();
    settings->name = name;
    settings->auth_url = cfg.auth_url;
    settings->api_version = cfg.api_version;
    settings->scope = cfg.scope;

    const auto org_it = cfg.organizations.find(name);
    const org_config* org = org_it == cfg.organizations.end() ? nullptr : &org_it->second;
    const auto runtime_it = runtime.find(name);
    const runtime_key* added = runtime_it == runtime.end() ? nullptr : &runtime_it->second;
    const auto key_path = cfg.key_dir / (name + ".key");

    // Key precedence: runtime, the config's key_file, <key_dir>/<name>.key.
    if (added != nullptr) {
      settings->key = added->key;
      settings->source = key_source::runtime;
    } else if (org != nullptr && org->key_file) {
      settings->source = key_source::config;
      const bool credential =
          !cfg.credentials_dir.empty() &&
          org->key_file->parent_path().lexically_normal() == cfg.credentials_dir.lexically_normal();
      settings->key = read_key_file(*org->key_file, daemon_uid, settings->key_problem, credential);
    } else if (in_key_dir) {
      settings->source = key_source::key_dir;
      settings->key = read_key_file(key_path, daemon_uid, settings->key_problem);
    } else if (!dir_problem.empty()) {
      settings->source = key_source::key_dir;  // where its key would come from
      settings->key_problem = dir_problem;
    } else {
      settings->key_problem =
          "organization " + name + " has no key; add one with `actoken key add " + name + "`";
    }
    if (settings->source && !settings->key) settings->problems.push_back(settings->key_problem);
    settings->config_key_file = org != nullptr && org->key_file.has_value();

    // Settings: the key's own metadata, overridden by the config's per-org entry.
    key_metadata meta;
    if (added != nullptr) {
      meta = {added->auth_url, added->api_version};
    } else if (in_key_dir && settings->source == key_source::key_dir) {
      meta = read_metadata(cfg.key_dir / (name + ".json"), daemon_uid, settings->problems);
    }
    if (meta.auth_url) settings->auth_url = *meta.auth_url;
    if (meta.api_version) settings->api_version = *meta.api_version;
    if (org != nullptr) {
      if (org->auth_url) settings->auth_url = *org->auth_url;
      if (org->api_version) settings->api_version = *org->api_version;
      if (org->scope) settings->scope = *org->scope;
      settings->allow = org->allow;
      settings->sub_organizations = org->sub_organizations;
    }
    // Parsed once, here: exchanges use the parse (every input went through
    // the same rule, so it cannot fail for a table built from them).
    if (auto server = upstream::parse_auth_url(settings->auth_url)) {
      settings->server = std::make_shared<const upstream::url>(std::move(server->parsed));
    }
    // Each refusal is logged; a missing key alone is not worth a warning twice.
    for (const auto& problem : settings->problems)
      spdlog::warn("organization {}: {}", name, problem);
    if (!settings->source && !settings->key_problem.empty()) {
      spdlog::warn("organization {}: {}", name, settings->key_problem);
    }
    table.emplace(name, std::move(settings));
  }
  return table;
}

void persist_key(const std::filesystem::path& key_dir, const std::string& org,
                 const platform::secure_buffer& key, const std::optional<std::string>& auth_url,
                 const std::optional<upstream::api_version>& api_version) {
  // A key is never written into a folder another user owns or can write.
  if (const auto problem = key_dir_problem(key_dir, ::geteuid()); !problem.empty()) {
    throw std::system_error(std::make_error_code(std::errc::permission_denied), problem);
  }
  std::error_code ec;
  if (!std::filesystem::exists(key_dir, ec)) {
    std::filesystem::create_directories(key_dir, ec);
    if (ec) {
      throw std::system_error(ec, "create " + key_dir.string());
    }
    ::chmod(key_dir.c_str(), 0700);
  }
  platform::secure_buffer contents;
  contents.reserve(key.size() + 1);
  contents.append(key.view());
  contents.push_back('\n');
  platform::write_file_atomically(key_dir / (org + ".key"), contents.view());

  const auto meta_path = key_dir / (org + ".json");
  if (auth_url || api_version) {
    nlohmann::json meta = nlohmann::json::object();
    if (auth_url) meta["auth_url"] = *auth_url;
    if (api_version) meta["api_version"] = std::string(upstream::to_string(*api_version));
    platform::write_file_atomically(meta_path, meta.dump(2) + "\n");
  } else {
    std::filesystem::remove(meta_path, ec);
  }
}

bool remove_persisted_key(const std::filesystem::path& key_dir, const std::string& org) {
  std::error_code ec;
  const bool removed = std::filesystem::remove(key_dir / (org + ".key"), ec);
  std::filesystem::remove(key_dir / (org + ".json"), ec);
  return removed;
}

}  // namespace actoken
