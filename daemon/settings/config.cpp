#include "daemon/settings/config.hpp"

#include "common/json_cursor.hpp"
#include "common/json_text.hpp"
#include "common/names.hpp"
#include "common/unique_fd.hpp"
#include "daemon/upstream/url.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>

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

  // `key_command`: an argv array run without a shell (SPEC §2). argv[0] is an
  // absolute path or a bare name looked up on the daemon's PATH when it runs;
  // a relative path would depend on the daemon's working folder.
  std::optional<std::vector<std::string>> argv(const json& value, const std::string& key) {
    constexpr std::size_t max_args = 64;
    constexpr std::size_t max_arg_bytes = 4096;
    if (!value.is_array() || value.empty() || value.size() > max_args) {
      problem(key, R"(must be a list of 1 to 64 strings, e.g. ["pass", "show", "appcircle/acme"])");
      return std::nullopt;
    }
    std::vector<std::string> args;
    for (const auto& arg : value) {
      if (!arg.is_string() || arg.get_ref<const std::string&>().size() > max_arg_bytes ||
          arg.get_ref<const std::string&>().find('\0') != std::string::npos) {
        problem(key, "entries must be strings of at most 4096 bytes, without NUL");
        return std::nullopt;
      }
      args.push_back(arg.get<std::string>());
    }
    const auto& program = args.front();
    if (program.empty() || (program.find('/') != std::string::npos && program.front() != '/')) {
      problem(key,
              "the program (first entry) must be an absolute path or a name looked up on "
              "the daemon's PATH");
      return std::nullopt;
    }
    return args;
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

// The same users and groups, in any order, as written (names are not
// resolved yet: a name and its number count as different).
bool same_principals(const std::optional<principal_set>& a, const std::optional<principal_set>& b) {
  if (!a || !b) return a.has_value() == b.has_value();
  auto sorted = [](principal_set set) {
    std::sort(set.user_names.begin(), set.user_names.end());
    std::sort(set.uids.begin(), set.uids.end());
    std::sort(set.group_names.begin(), set.group_names.end());
    std::sort(set.gids.begin(), set.gids.end());
    return set;
  };
  return sorted(*a) == sorted(*b);
}

// One entry of `sub_organizations`: "<guid>" or {"id": "<guid>", "allow": {...}}.
std::optional<sub_org_config> read_sub_org(reader& r, const std::string& key, const json& value) {
  const json* id = &value;
  sub_org_config sub;
  if (value.is_object()) {
    r.only_keys(value, key + ".", {"id", "allow"});
    const auto found = value.find("id");
    if (found == value.end()) {
      r.problem(key + ".id", "is missing: the sub-organization's id in GUID form");
      return std::nullopt;
    }
    id = &*found;
    if (const auto allow = value.find("allow"); allow != value.end()) {
      sub.allow = r.principals(*allow, key + ".allow");
    }
  }
  if (!id->is_string() || !is_guid(id->get_ref<const std::string&>())) {
    r.problem(value.is_object() ? key + ".id" : key,
              R"(must be an organization id in GUID form, or {"id": "<guid>", "allow": {...}})");
    return std::nullopt;
  }
  sub.id = id->get<std::string>();
  std::transform(sub.id.begin(), sub.id.end(), sub.id.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return sub;
}

void read_sub_organizations(reader& r, const std::string& key, const json& value,
                            sub_org_list& list) {
  if (!value.is_object()) {
    r.problem(key, R"(must be an object like {"alias": "<guid>"})");
    return;
  }
  for (const auto& [alias, entry] : value.items()) {
    const auto entry_key = key + "." + alias;
    if (!is_valid_org_name(alias)) {
      r.problem(entry_key, "aliases match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    } else if (is_guid(alias)) {
      // A request's sub_org is looked up as an alias first: an alias in GUID
      // form would hide the sub-organization of that id.
      r.problem(entry_key, "an alias may not be in GUID form");
    }
    auto sub = read_sub_org(r, entry_key, entry);
    if (!sub) continue;
    // One GUID is one cache key with one allow, whichever alias names it.
    if (const auto* listed = list.by_id(sub->id);
        listed != nullptr && !same_principals(listed->allow, sub->allow)) {
      r.problem(entry_key, "lists " + sub->id + " as " + *list.alias_of(sub->id) +
                               " does, with a different allow: a sub-organization has one allow "
                               "whichever alias names it");
      continue;
    }
    list.add(alias, std::move(*sub));
  }
}

// A sink's `mode`: an octal string of permission bits that lets the daemon's
// user read and write, and nobody else write or execute: a token file others
// could write would let them hand its readers a token of their choosing.
std::optional<unsigned> read_sink_mode(reader& r, const json& value, const std::string& key) {
  const auto text = r.string(value, key);
  if (!text) return std::nullopt;
  if (text->empty() || text->size() > 4 ||
      text->find_first_not_of("01234567") != std::string::npos) {
    r.problem(key, R"(must be an octal string such as "0600" or "0640")");
    return std::nullopt;
  }
  const auto mode = static_cast<unsigned>(std::stoul(*text, nullptr, 8));
  if ((mode & ~0644U) != 0) {
    r.problem(key,
              "may let group and others read, never write or execute, and takes no setuid, setgid "
              "or sticky bit (e.g. \"0600\", \"0640\", \"0644\")");
    return std::nullopt;
  }
  if ((mode & 0600U) != 0600U) {
    r.problem(key, "must let the daemon's own user read and write (0600 bits)");
    return std::nullopt;
  }
  return mode;
}

// A sink's `sub_org`: an alias of this organization's `sub_organizations`, or a GUID.
void read_sink_sub_org(reader& r, const json& value, const std::string& key, const org_config& org,
                       sink_config& sink) {
  auto label = r.string(value, key);
  if (!label) return;
  if (const auto* alias = org.sub_organizations.by_alias(*label)) {
    sink.sub_org = alias->id;
  } else if (is_guid(*label)) {
    sink.sub_org = *label;
    std::transform(sink.sub_org.begin(), sink.sub_org.end(), sink.sub_org.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  } else {
    r.problem(key, "must be an alias of this organization's sub_organizations or a GUID");
    return;
  }
  sink.sub_org_label = *label;
}

// A sink's `group`: a name or a number; names are resolved at load.
void read_sink_group(reader& r, const json& value, const std::string& key, sink_config& sink) {
  if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
    sink.group = value.get<std::string>();
  } else if (value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
             value.get<std::int64_t>() < std::numeric_limits<std::int32_t>::max()) {
    sink.group = std::to_string(value.get<std::int64_t>());
    sink.gid = static_cast<gid_t>(value.get<std::int64_t>());
  } else {
    r.problem(key, "must be a group name or a non-negative number");
  }
}

// One entry of `sinks`: {"path", "format", "sub_org"?, "mode"?, "group"?}.
void read_sink(reader& r, const std::string& key, const json& value, org_config& org) {
  if (!value.is_object()) {
    r.problem(key, R"(must be an object like {"path": "/run/acme/token", "format": "token"})");
    return;
  }
  r.only_keys(value, key + ".", {"path", "format", "sub_org", "mode", "group"});
  sink_config sink;
  if (const auto it = value.find("path"); it == value.end()) {
    r.problem(key + ".path", "is required");
  } else if (auto text = r.string(*it, key + ".path")) {
    const std::filesystem::path p(*text);
    if (!(p.is_absolute() || text->starts_with("~/")) || !p.has_filename() || p.filename() == "." ||
        p.filename() == "..") {
      r.problem(key + ".path", "must be an absolute path or start with ~/, and name a file");
    }
    sink.path = *text;
  }
  if (const auto it = value.find("format"); it == value.end()) {
    r.problem(key + ".format", "is required");
  } else if (auto text = r.string(*it, key + ".format")) {
    constexpr std::array formats{sink_format::token, sink_format::json, sink_format::env,
                                 sink_format::appcircle_cli};
    const auto found = std::find_if(formats.begin(), formats.end(),
                                    [&](sink_format f) { return to_string(f) == *text; });
    if (found == formats.end()) {
      r.problem(key + ".format", R"(must be "token", "json", "env" or "appcircle-cli")");
    } else {
      sink.format = *found;
    }
  }
  if (const auto it = value.find("sub_org"); it != value.end()) {
    read_sink_sub_org(r, *it, key + ".sub_org", org, sink);
  }
  if (const auto it = value.find("mode"); it != value.end()) {
    if (auto mode = read_sink_mode(r, *it, key + ".mode")) sink.mode = *mode;
  }
  if (const auto it = value.find("group"); it != value.end()) {
    read_sink_group(r, *it, key + ".group", sink);
  }
  org.sinks.push_back(std::move(sink));
}

void read_sinks(reader& r, const std::string& key, const json& value, org_config& org) {
  if (!value.is_array()) {
    r.problem(key, R"(must be a list like [{"path": "/run/acme/token", "format": "token"}])");
    return;
  }
  for (std::size_t i = 0; i < value.size(); ++i) {
    read_sink(r, key + "[" + std::to_string(i) + "]", value[i], org);
  }
}

// Two sinks writing one file would overwrite each other: named once.
void check_sink_paths(reader& r, const config& cfg) {
  std::map<std::string, std::string> first_key_of;
  for (const auto& [name, org] : cfg.organizations) {
    for (std::size_t i = 0; i < org.sinks.size(); ++i) {
      const auto key = "organizations." + name + ".sinks[" + std::to_string(i) + "].path";
      const auto path = std::filesystem::path(org.sinks[i].path).lexically_normal().string();
      const auto [it, added] = first_key_of.emplace(path, key);
      if (!added) r.problem(key, "is the same file as " + it->second);
    }
  }
}

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
              {"key_file", "key_command", "auth_url", "api_version", "scope", "allow",
               "sub_organizations", "any_sub_org", "sinks"});
  if (const auto it = value.find("key_file"); it != value.end()) {
    // systemd's LoadCredential= puts credentials in $CREDENTIALS_DIRECTORY.
    const auto& ctx = r.context();
    const auto base = ctx.credentials_dir.empty() ? ctx.file.parent_path() : ctx.credentials_dir;
    org.key_file = r.path(*it, prefix + ".key_file", base);
  }
  if (const auto it = value.find("auth_url"); it != value.end()) {
    org.auth_url = r.https_url(*it, prefix + ".auth_url");
  }
  if (const auto it = value.find("key_command"); it != value.end()) {
    org.key_command = r.argv(*it, prefix + ".key_command");
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
    read_sub_organizations(r, prefix + ".sub_organizations", *it, org.sub_organizations);
  }
  if (const auto it = value.find("any_sub_org"); it != value.end()) {
    if (it->is_boolean()) {
      org.sub_organizations.any_sub_org = it->get<bool>();
    } else {
      r.problem(prefix + ".any_sub_org", "must be true or false");
    }
  }
  if (const auto it = value.find("sinks"); it != value.end()) {
    read_sinks(r, prefix + ".sinks", *it, org);
  }
}

// The top-level keys of the config file (SPEC §2).
constexpr std::array<std::string_view, 23> top_level_keys{"socket",
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
                                                          "audit_log"};

// One top-level member's value, or null when the file does not set it.
const json* member(const json& root, std::string_view key) {
  const auto it = root.find(key);
  return it == root.end() ? nullptr : &*it;
}

// `socket_mode`: an octal string of permission bits that let the daemon's
// own user read and write.
void read_socket_mode(reader& r, const json& value, config& cfg) {
  const auto text = r.string(value, "socket_mode");
  if (!text) return;
  const bool octal = !text->empty() && text->size() <= 4 &&
                     text->find_first_not_of("01234567") == std::string::npos;
  if (!octal) {
    r.problem("socket_mode", R"(must be an octal string such as "0660")");
    return;
  }
  cfg.socket_mode = static_cast<unsigned>(std::stoul(*text, nullptr, 8));
  if ((cfg.socket_mode & ~0777U) != 0) {
    r.problem(
        "socket_mode",
        R"(takes permission bits only ("0600", "0660", "0666"): no setuid, setgid or sticky bit)");
  } else if ((cfg.socket_mode & 0600U) != 0600U) {
    r.problem("socket_mode", "must let the daemon's own user read and write (0600 bits)");
  }
}

// Where the daemon listens, and who may connect: socket, socket_mode, socket_group.
void read_socket(reader& r, const json& root, const std::filesystem::path& base, config& cfg) {
  if (const auto* v = member(root, "socket")) {
    if (auto p = r.path(*v, "socket", base)) cfg.socket = *p;
  }
  if (const auto* v = member(root, "socket_mode")) read_socket_mode(r, *v, cfg);
  if (const auto* v = member(root, "socket_group")) {
    cfg.socket_group = r.string(*v, "socket_group");
    if (cfg.socket_group && cfg.socket_group->empty()) {
      r.problem("socket_group", "must not be empty");
    }
  }
}

// `proxy`: the URL may hold a password (SPEC §6), so it was taken out of the
// text into locked memory before the text was parsed (`take_proxy`); the
// tree holds only the blank left in its place. A text the cursor could not
// walk keeps it there, and it is read from the tree.
void read_proxy(reader& r, const json& value, std::optional<platform::secure_buffer>& taken,
                config& cfg) {
  if (!value.is_string()) {
    r.problem("proxy", "must be a string");
    return;
  }
  if (taken) {
    cfg.proxy = std::move(*taken);
  } else {
    cfg.proxy.emplace(value.get_ref<const std::string&>());
  }
  // Parsed as the exchange will parse it; the text is never repeated.
  const auto text = cfg.proxy->view();
  if (!text.empty() && (!text.starts_with("http://") || !upstream::parse_proxy_url(text))) {
    r.problem("proxy", "must be an http://[user:pass@]host[:port] URL");
  }
}

// The auth server and how to reach it: auth_url, api_version, scope, ca_file, proxy.
void read_upstream(reader& r, const json& root, const std::filesystem::path& base,
                   std::optional<platform::secure_buffer>& taken_proxy, config& cfg) {
  if (const auto* v = member(root, "auth_url")) {
    if (auto url = r.https_url(*v, "auth_url")) cfg.auth_url = *url;
  }
  if (const auto* v = member(root, "api_version")) {
    if (auto version = r.api_version(*v, "api_version")) cfg.api_version = *version;
  }
  if (const auto* v = member(root, "scope")) {
    if (auto scope = r.string(*v, "scope")) cfg.scope = *scope;
  }
  if (const auto* v = member(root, "ca_file")) cfg.ca_file = r.path(*v, "ca_file", base);
  if (const auto* v = member(root, "proxy")) read_proxy(r, *v, taken_proxy, cfg);
}

// Times and budgets: the durations of SPEC §2, max_exchanges_per_minute,
// max_connections.
void read_limits(reader& r, const json& root, config& cfg) {
  constexpr std::int64_t day = 86400;
  // key, where it goes, its least value (a timeout or lifetime of 0 is none).
  const std::tuple<const char*, std::chrono::seconds*, std::int64_t> durations[] = {
      {"upstream_timeout", &cfg.upstream_timeout, 1},
      {"min_ttl", &cfg.min_ttl, 0},
      {"refresh_before", &cfg.refresh_before, 0},
      {"default_token_ttl", &cfg.default_token_ttl, 1},
      {"retry_rejected_after", &cfg.retry_rejected_after, 0},
  };
  for (const auto& [key, target, min] : durations) {
    if (const auto* v = member(root, key)) {
      if (auto d = r.duration(*v, key, min, day)) *target = *d;
    }
  }
  if (const auto* v = member(root, "max_exchanges_per_minute")) {
    if (auto n = r.count(*v, "max_exchanges_per_minute", 1, 100000)) {
      cfg.max_exchanges_per_minute = static_cast<unsigned>(*n);
    }
  }
  if (const auto* v = member(root, "max_connections")) {
    if (auto n = r.count(*v, "max_connections", 1, 1000000)) {
      cfg.max_connections = static_cast<std::size_t>(*n);
    }
  }
}

// The files the daemon keeps: key_dir, cache_file, audit_log.
void read_files(reader& r, const json& root, const std::filesystem::path& base, config& cfg) {
  if (const auto* v = member(root, "key_dir")) {
    if (auto p = r.path(*v, "key_dir", base)) cfg.key_dir = *p;
  }
  if (const auto* v = member(root, "cache_file")) cfg.cache_file = r.path(*v, "cache_file", base);
  if (const auto* v = member(root, "audit_log")) {
    // "-" is the daemon's own log, not a file named "-".
    if (v->is_string() && v->get_ref<const std::string&>() == "-") {
      cfg.audit_log = "-";
    } else {
      cfg.audit_log = r.path(*v, "audit_log", base);
    }
  }
}

// log_level and default_org.
void read_defaults(reader& r, const json& root, config& cfg) {
  if (const auto* v = member(root, "log_level")) {
    if (auto level = r.string(*v, "log_level")) {
      static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
      if (levels.count(*level) == 0) {
        r.problem("log_level", "must be trace, debug, info, warn or error");
      } else {
        cfg.log_level = *level;
      }
    }
  }
  if (const auto* v = member(root, "default_org")) {
    cfg.default_org = r.string(*v, "default_org");
    if (cfg.default_org && !is_valid_org_name(*cfg.default_org)) {
      r.problem("default_org", "is not a valid organization name");
    }
  }
}

// Who may do what, and the organizations: admin, allow, organizations.
void read_access(reader& r, const json& root, config& cfg) {
  if (const auto* v = member(root, "admin")) {
    if (auto set = r.principals(*v, "admin")) cfg.admin = *set;
  }
  if (const auto* v = member(root, "allow")) {
    if (auto set = r.principals(*v, "allow")) cfg.allow = *set;
  }
  if (const auto* v = member(root, "organizations")) {
    if (!v->is_object()) {
      r.problem("organizations", "must be an object of organization names");
      return;
    }
    for (const auto& [name, value] : v->items()) {
      read_organization(r, name, value, cfg.organizations[name]);
    }
    check_sink_paths(r, cfg);
  }
}

void read_top_level(reader& r, const json& root,
                    std::optional<platform::secure_buffer>& taken_proxy, config& cfg) {
  for (const auto& [name, value] : root.items()) {
    if (std::find(top_level_keys.begin(), top_level_keys.end(), name) == top_level_keys.end()) {
      r.problem(name, "unknown key");
    }
  }
  const auto base = r.context().file.parent_path();
  read_socket(r, root, base, cfg);
  read_upstream(r, root, base, taken_proxy, cfg);
  read_limits(r, root, cfg);
  read_files(r, root, base, cfg);
  read_defaults(r, root, cfg);
  read_access(r, root, cfg);
}

}  // namespace

void sub_org_list::add(std::string alias, sub_org_config sub) {
  by_alias_.insert_or_assign(std::move(alias), std::move(sub));
  // Rebuilt whole (at load, a handful of entries): each GUID's first alias by name.
  alias_by_id_.clear();
  for (const auto& [name, entry] : by_alias_) alias_by_id_.try_emplace(entry.id, name);
}

const sub_org_config* sub_org_list::by_alias(std::string_view alias) const {
  const auto found = by_alias_.find(alias);
  return found == by_alias_.end() ? nullptr : &found->second;
}

const sub_org_config* sub_org_list::by_id(std::string_view guid) const {
  const auto alias = alias_by_id_.find(guid);
  return alias == alias_by_id_.end() ? nullptr : by_alias(alias->second);
}

const std::string* sub_org_list::alias_of(std::string_view guid) const {
  const auto alias = alias_by_id_.find(guid);
  return alias == alias_by_id_.end() ? nullptr : &alias->second;
}

std::string_view to_string(sink_format format) noexcept {
  switch (format) {
    case sink_format::token:
      return "token";
    case sink_format::json:
      return "json";
    case sink_format::env:
      return "env";
    case sink_format::appcircle_cli:
      return "appcircle-cli";
  }
  return "token";
}

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

std::optional<platform::secure_buffer> take_proxy(platform::secure_buffer& text) {
  json_cursor in(text.view(), /*comments=*/true);
  std::optional<platform::secure_buffer> taken;
  if (!in.skip_space() || !in.consume('{') || !in.skip_space() || in.consume('}')) return taken;
  for (;;) {
    std::string name;
    if (!in.skip_space() || !in.read_string(name) || !in.skip_space() || !in.consume(':') ||
        !in.skip_space()) {
      return taken;
    }
    if (name == "proxy" && in.peek() == '"') {
      const auto start = in.offset();
      platform::secure_buffer value;
      value.reserve(text.size());  // decoding never grows it: no copy is left behind
      if (!in.read_string(value)) return taken;
      // `""` then spaces: the same length, so the cursor's view stays valid.
      std::fill(text.data() + start + 2, text.data() + in.offset(), ' ');
      text.data()[start + 1] = '"';
      taken = std::move(value);
    } else if (!in.skip_value()) {
      return taken;
    }
    if (!in.skip_space()) return taken;
    if (in.consume('}')) return taken;
    if (!in.consume(',')) return taken;
  }
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
  // Parsed from a copy in locked memory with the proxy URL taken out first:
  // neither the text nor the parse holds a password once loaded (SPEC §6).
  platform::secure_buffer copy;
  copy.reserve(text.size());
  copy.append(text);
  auto taken_proxy = take_proxy(copy);
  json root;
  try {
    root = json::parse(copy.view(), nullptr, true, /*ignore_comments=*/true);
  } catch (const json::exception& error) {
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 3, ..."
    std::string message = error.what();
    if (const auto pos = message.find("] "); pos != std::string::npos) {
      message.erase(0, pos + 2);
    }
    // "...; last read: '<the text of the token>'" would repeat what the file
    // holds, a password in a malformed proxy string included: line and column
    // say where.
    if (const auto pos = message.find("; last read: "); pos != std::string::npos) {
      platform::secure_wipe(message.data() + pos, message.size() - pos);
      message.resize(pos);
    }
    r.problem("(file)", "not valid JSON: " + message);
    return r.take_problems();
  }
  if (!root.is_object()) {
    r.problem("(file)", "must be a JSON object");
    return r.take_problems();
  }
  read_top_level(r, root, taken_proxy, cfg);
  if (!r.ok()) {
    return r.take_problems();
  }
  return cfg;
}

}  // namespace actoken

namespace actoken {

config_result load_config(const std::filesystem::path& path, bool must_exist,
                          const config_context& context) {
  const auto problem = [&](const std::string& reason) {
    return std::vector<config_problem>{{path.string(), "(file)", reason}};
  };
  // Only a file that is not there means "all defaults": one that is there but
  // cannot be read (its mode, or a folder on the way the user may not search)
  // is a problem, or a check run as the wrong user would say "ok". Opened
  // without blocking: a FIFO put at the path must not hang the start.
  const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int error = errno;
    if (!must_exist && (error == ENOENT || error == ENOTDIR)) return parse_config("", context);
    return problem(std::string("cannot read: ") + std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0)
    return problem(std::string("cannot read: ") + std::strerror(errno));
  if (!S_ISREG(info.st_mode)) return problem("is not a regular file");
  if (info.st_size > static_cast<off_t>(max_config_size)) {
    return problem("is larger than " + std::to_string(max_config_size / 1024) + " KiB");
  }
  // Wiped when done with: it may hold a proxy password.
  platform::secure_buffer text;
  text.reserve(static_cast<std::size_t>(info.st_size));
  text.resize(static_cast<std::size_t>(info.st_size));
  std::size_t have = 0;
  while (have < text.size()) {
    const auto got = ::read(fd.get(), text.data() + have, text.size() - have);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return problem(std::string("cannot read: ") + std::strerror(errno));
    if (got == 0) break;  // shrank while being read: parse what is there
    have += static_cast<std::size_t>(got);
  }
  text.resize(have);
  return parse_config(text.view(), context);
}

}  // namespace actoken
