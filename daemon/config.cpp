#include "daemon/config.hpp"

#include "common/json_text.hpp"
#include "common/names.hpp"
#include "daemon/upstream/url.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

namespace actoken {
namespace {

using json = nlohmann::json;

// Collects problems while reading one file; every check names its key.
class reader {
 public:
  explicit reader(const config_context& context) : context_(context) {}

  void problem(std::string key, std::string reason) {
    problems_.push_back({context_.file.string(), std::move(key), std::move(reason)});
  }
  std::vector<config_problem> take_problems() { return std::move(problems_); }
  bool ok() const noexcept { return problems_.empty(); }
  const config_context& context() const noexcept { return context_; }

  // Rejects keys outside `allowed`, naming each one.
  void only_keys(const json& object, const std::string& prefix,
                 std::initializer_list<std::string_view> allowed) {
    for (const auto& [name, value] : object.items()) {
      if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
        problem(prefix + name, "unknown key");
      }
    }
  }

  std::optional<std::string> string(const json& value, const std::string& key) {
    if (!value.is_string()) {
      problem(key, "must be a string");
      return std::nullopt;
    }
    return value.get<std::string>();
  }

  std::optional<std::chrono::seconds> duration(const json& value, const std::string& key,
                                               std::int64_t min, std::int64_t max) {
    if (!value.is_number_integer()) {
      problem(key, "must be a whole number of seconds");
      return std::nullopt;
    }
    const auto n = value.get<std::int64_t>();
    if (n < min || n > max) {
      problem(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return std::chrono::seconds{n};
  }

  std::optional<std::uint64_t> count(const json& value, const std::string& key, std::uint64_t min,
                                     std::uint64_t max) {
    if (!value.is_number_integer() || value.get<std::int64_t>() < 0) {
      problem(key, "must be a whole number");
      return std::nullopt;
    }
    const auto n = value.get<std::uint64_t>();
    if (n < min || n > max) {
      problem(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return n;
  }

  // A path; relative ones are resolved against `base`.
  std::optional<std::filesystem::path> path(const json& value, const std::string& key,
                                            const std::filesystem::path& base) {
    auto text = string(value, key);
    if (!text) {
      return std::nullopt;
    }
    if (text->empty()) {
      problem(key, "must not be empty");
      return std::nullopt;
    }
    std::filesystem::path p(*text);
    return p.is_absolute() ? p : base / p;
  }

  std::optional<std::string> https_url(const json& value, const std::string& key) {
    auto text = string(value, key);
    if (!text) {
      return std::nullopt;
    }
    auto server = upstream::parse_auth_url(*text);
    if (!server) {
      problem(key, "must be an https:// URL without user, query or fragment");
      return std::nullopt;
    }
    return std::move(server->text);
  }

  std::optional<upstream::api_version> api_version(const json& value, const std::string& key) {
    auto text = string(value, key);
    if (!text) {
      return std::nullopt;
    }
    auto version = upstream::parse_api_version(*text);
    if (!version) {
      problem(key, R"(must be "v1", "v2", "v3" or "auto")");
    }
    return version;
  }

  std::optional<principal_set> principals(const json& value, const std::string& key) {
    if (!value.is_object()) {
      problem(key, R"(must be an object like {"users": [...], "groups": [...]})");
      return std::nullopt;
    }
    only_keys(value, key + ".", {"users", "groups"});
    principal_set set;
    auto list = [&](const char* field, auto& names, auto& ids) {
      const auto it = value.find(field);
      if (it == value.end()) {
        return;
      }
      const auto list_key = key + "." + field;
      if (!it->is_array()) {
        problem(list_key, "must be a list of names or numbers");
        return;
      }
      for (const auto& entry : *it) {
        if (entry.is_string() && !entry.get_ref<const std::string&>().empty()) {
          names.push_back(entry.get<std::string>());
        } else if (entry.is_number_integer() && entry.get<std::int64_t>() >= 0 &&
                   entry.get<std::int64_t>() < std::numeric_limits<std::int32_t>::max()) {
          ids.push_back(static_cast<typename std::remove_reference_t<decltype(ids)>::value_type>(
              entry.get<std::int64_t>()));
        } else {
          problem(list_key, "entries must be names or non-negative numbers");
        }
      }
    };
    list("users", set.user_names, set.uids);
    list("groups", set.group_names, set.gids);
    return set;
  }

 private:
  const config_context& context_;
  std::vector<config_problem> problems_;
};

void read_organization(reader& r, const std::string& name, const json& value, org_config& org) {
  const auto prefix = "organizations." + name;
  if (!is_valid_org_name(name)) {
    r.problem(prefix, "organization names match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
  }
  if (!value.is_object()) {
    r.problem(prefix, "must be an object");
    return;
  }
  r.only_keys(value, prefix + ".",
              {"key_file", "auth_url", "api_version", "scope", "allow", "sub_organizations"});
  if (const auto it = value.find("key_file"); it != value.end()) {
    // systemd's LoadCredential= puts credentials in $CREDENTIALS_DIRECTORY.
    const auto& ctx = r.context();
    const auto base = ctx.credentials_dir.empty() ? ctx.file.parent_path() : ctx.credentials_dir;
    org.key_file = r.path(*it, prefix + ".key_file", base);
  }
  if (const auto it = value.find("auth_url"); it != value.end()) {
    org.auth_url = r.https_url(*it, prefix + ".auth_url");
  }
  if (const auto it = value.find("api_version"); it != value.end()) {
    org.api_version = r.api_version(*it, prefix + ".api_version");
  }
  if (const auto it = value.find("scope"); it != value.end()) {
    org.scope = r.string(*it, prefix + ".scope");
  }
  if (const auto it = value.find("allow"); it != value.end()) {
    org.allow = r.principals(*it, prefix + ".allow");
  }
  if (const auto it = value.find("sub_organizations"); it != value.end()) {
    const auto key = prefix + ".sub_organizations";
    if (!it->is_object()) {
      r.problem(key, R"(must be an object like {"alias": "<guid>"})");
      return;
    }
    for (const auto& [alias, guid] : it->items()) {
      if (!is_valid_org_name(alias)) {
        r.problem(key + "." + alias, "aliases match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
      }
      if (!guid.is_string() || !is_guid(guid.get_ref<const std::string&>())) {
        r.problem(key + "." + alias, "must be an organization id in GUID form");
        continue;
      }
      auto lower = guid.get<std::string>();
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      org.sub_organizations[alias] = lower;
    }
  }
}

void read_top_level(reader& r, const json& root, config& cfg) {
  r.only_keys(root, "",
              {"socket",
               "socket_mode",
               "socket_group",
               "key_dir",
               "auth_url",
               "api_version",
               "scope",
               "ca_file",
               "proxy",
               "upstream_timeout",
               "min_ttl",
               "refresh_before",
               "default_token_ttl",
               "retry_rejected_after",
               "max_exchanges_per_minute",
               "cache_file",
               "max_connections",
               "log_level",
               "default_org",
               "admin",
               "allow",
               "organizations",
               "audit_log"});
  const auto base = r.context().file.parent_path();
  auto get = [&root](const char* key) -> const json* {
    const auto it = root.find(key);
    return it == root.end() ? nullptr : &*it;
  };

  if (const auto* v = get("socket")) {
    if (auto p = r.path(*v, "socket", base)) cfg.socket = *p;
  }
  if (const auto* v = get("socket_mode")) {
    const auto text = r.string(*v, "socket_mode");
    if (text) {
      const bool octal = !text->empty() && text->size() <= 4 &&
                         text->find_first_not_of("01234567") == std::string::npos;
      if (!octal) {
        r.problem("socket_mode", R"(must be an octal string such as "0660")");
      } else {
        cfg.socket_mode = static_cast<unsigned>(std::stoul(*text, nullptr, 8));
        if ((cfg.socket_mode & ~0777U) != 0) {
          r.problem(
              "socket_mode",
              R"(takes permission bits only ("0600", "0660", "0666"): no setuid, setgid or sticky bit)");
        } else if ((cfg.socket_mode & 0600U) != 0600U) {
          r.problem("socket_mode", "must let the daemon's own user read and write (0600 bits)");
        }
      }
    }
  }
  if (const auto* v = get("socket_group")) {
    cfg.socket_group = r.string(*v, "socket_group");
    if (cfg.socket_group && cfg.socket_group->empty()) {
      r.problem("socket_group", "must not be empty");
    }
  }
  if (const auto* v = get("key_dir")) {
    if (auto p = r.path(*v, "key_dir", base)) cfg.key_dir = *p;
  }
  if (const auto* v = get("auth_url")) {
    if (auto url = r.https_url(*v, "auth_url")) cfg.auth_url = *url;
  }
  if (const auto* v = get("api_version")) {
    if (auto version = r.api_version(*v, "api_version")) cfg.api_version = *version;
  }
  if (const auto* v = get("scope")) {
    if (auto scope = r.string(*v, "scope")) cfg.scope = *scope;
  }
  if (const auto* v = get("ca_file")) {
    cfg.ca_file = r.path(*v, "ca_file", base);
  }
  if (const auto* v = get("proxy")) {
    if (!v->is_string()) {
      r.problem("proxy", "must be a string");
    } else {
      // Read in place, not copied: the URL may hold a password (SPEC §6).
      const auto& text = v->get_ref<const std::string&>();
      cfg.proxy.emplace(text);
      // Parsed as the exchange will parse it; the text is never repeated.
      if (!text.empty() && (text.rfind("http://", 0) != 0 || !upstream::parse_proxy_url(text))) {
        r.problem("proxy", "must be an http://[user:pass@]host[:port] URL");
      }
    }
  }
  constexpr std::int64_t day = 86400;
  const std::pair<const char*, std::chrono::seconds*> durations[] = {
      {"upstream_timeout", &cfg.upstream_timeout},
      {"min_ttl", &cfg.min_ttl},
      {"refresh_before", &cfg.refresh_before},
      {"default_token_ttl", &cfg.default_token_ttl},
      {"retry_rejected_after", &cfg.retry_rejected_after},
  };
  for (const auto& [key, target] : durations) {
    if (const auto* v = get(key)) {
      const std::int64_t min = std::string_view(key) == "upstream_timeout" ||
                                       std::string_view(key) == "default_token_ttl"
                                   ? 1
                                   : 0;
      if (auto d = r.duration(*v, key, min, day)) *target = *d;
    }
  }
  if (const auto* v = get("max_exchanges_per_minute")) {
    if (auto n = r.count(*v, "max_exchanges_per_minute", 1, 100000)) {
      cfg.max_exchanges_per_minute = static_cast<unsigned>(*n);
    }
  }
  if (const auto* v = get("cache_file")) {
    cfg.cache_file = r.path(*v, "cache_file", base);
  }
  if (const auto* v = get("audit_log")) {
    // "-" is the daemon's own log, not a file named "-".
    if (v->is_string() && v->get_ref<const std::string&>() == "-") {
      cfg.audit_log = "-";
    } else {
      cfg.audit_log = r.path(*v, "audit_log", base);
    }
  }
  if (const auto* v = get("max_connections")) {
    if (auto n = r.count(*v, "max_connections", 1, 1000000)) {
      cfg.max_connections = static_cast<std::size_t>(*n);
    }
  }
  if (const auto* v = get("log_level")) {
    if (auto level = r.string(*v, "log_level")) {
      static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
      if (levels.count(*level) == 0) {
        r.problem("log_level", "must be trace, debug, info, warn or error");
      } else {
        cfg.log_level = *level;
      }
    }
  }
  if (const auto* v = get("default_org")) {
    cfg.default_org = r.string(*v, "default_org");
    if (cfg.default_org && !is_valid_org_name(*cfg.default_org)) {
      r.problem("default_org", "is not a valid organization name");
    }
  }
  if (const auto* v = get("admin")) {
    if (auto set = r.principals(*v, "admin")) cfg.admin = *set;
  }
  if (const auto* v = get("allow")) {
    if (auto set = r.principals(*v, "allow")) cfg.allow = *set;
  }
  if (const auto* v = get("organizations")) {
    if (!v->is_object()) {
      r.problem("organizations", "must be an object of organization names");
    } else {
      for (const auto& [name, value] : v->items()) {
        read_organization(r, name, value, cfg.organizations[name]);
      }
    }
  }
}

}  // namespace

std::string config_problem::to_string() const {
  // A key is the config's own text: shown as is when it is printable ASCII,
  // else quoted and escaped (empty, control characters, a terminal escape).
  const bool plain = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return c >= 0x20 && c < 0x7F;  // printable ASCII
  });
  std::string shown;
  if (plain) {
    shown = key;
  } else {
    append_json_string(shown, key);
  }
  return file + ": " + shown + ": " + reason;
}

config_result parse_config(std::string_view text, const config_context& context) {
  config cfg;
  cfg.socket = context.defaults.socket;
  cfg.socket_mode = context.defaults.socket_mode;
  cfg.key_dir = context.defaults.key_dir;
  cfg.credentials_dir = context.credentials_dir;

  reader r(context);
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return cfg;
  }
  json root;
  try {
    root = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& error) {
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 3, ..."
    std::string message = error.what();
    if (const auto pos = message.find("] "); pos != std::string::npos) {
      message.erase(0, pos + 2);
    }
    r.problem("(file)", "not valid JSON: " + message);
    return r.take_problems();
  }
  if (!root.is_object()) {
    r.problem("(file)", "must be a JSON object");
    return r.take_problems();
  }
  read_top_level(r, root, cfg);
  if (!r.ok()) {
    return r.take_problems();
  }
  return cfg;
}

}  // namespace actoken

namespace actoken {

config_result load_config(const std::filesystem::path& path, bool must_exist,
                          const config_context& context) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!must_exist && !std::filesystem::exists(path, ec)) {
      return parse_config("", context);
    }
    return std::vector<config_problem>{
        {path.string(), "(file)", std::string("cannot read: ") + std::strerror(errno)}};
  }
  std::stringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), context);
}

}  // namespace actoken
