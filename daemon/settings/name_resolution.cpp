#include "daemon/settings/name_resolution.hpp"

#include "daemon/platform/peer.hpp"

#include <algorithm>

namespace actoken {
namespace {

// Resolves the names of one list into `ids`, one problem per name that does not resolve.
// Each resolved name goes into `book` too, for whoami and messages.
template <class Id, class Lookup>
void resolve_list(const std::vector<std::string>& names, std::vector<Id>& ids,
                  std::map<Id, std::string>& book, const Lookup& lookup, const char* kind,
                  const config_problem& where, std::vector<config_problem>& problems) {
  for (const auto& name : names) {
    std::string failure;
    const auto id = lookup(name, failure);
    if (id) {
      if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
      book.emplace(*id, name);  // the first name listed for a number wins
      continue;
    }
    auto problem = where;
    problem.reason = failure.empty()
                         ? "no " + std::string(kind) + " named " + name + "; it matches nobody"
                         : failure + "; " + name + " matches nobody";
    problems.push_back(std::move(problem));
  }
}

void resolve_set(principal_set& set, name_book& book, const name_service& names,
                 const std::string& file, const std::string& key,
                 std::vector<config_problem>& problems) {
  resolve_list(set.user_names, set.uids, book.users, names.user, "user", {file, key + ".users", ""},
               problems);
  resolve_list(set.group_names, set.gids, book.groups, names.group, "group",
               {file, key + ".groups", ""}, problems);
}

// A sink's `group` by name becomes its gid; one that does not resolve leaves
// that sink unwritten (its state says why), and the rest of the config loads.
void resolve_sink_groups(org_config& org, const name_service& names, const std::string& file,
                         const std::string& key, std::vector<config_problem>& problems) {
  for (std::size_t i = 0; i < org.sinks.size(); ++i) {
    auto& sink = org.sinks[i];
    if (!sink.group || sink.gid) continue;
    std::string failure;
    sink.gid = names.group(*sink.group, failure);
    if (sink.gid) continue;
    sink.group_problem =
        (failure.empty() ? "no group named " + *sink.group : failure) + "; the sink is not written";
    problems.push_back({file, key + "[" + std::to_string(i) + "].group", sink.group_problem});
  }
}

}  // namespace

name_service system_name_service() {
  return {[](const std::string& name, std::string& problem) {
            return platform::lookup_user(name, problem);
          },
          [](const std::string& name, std::string& problem) {
            return platform::lookup_group(name, problem);
          },
          [](gid_t gid, std::size_t limit) { return platform::group_member_names(gid, limit); }};
}

std::vector<config_problem> resolve_principal_names(config& cfg, const name_service& names,
                                                    const std::string& file) {
  std::vector<config_problem> problems;
  resolve_set(cfg.admin, cfg.names, names, file, "admin", problems);
  resolve_set(cfg.allow, cfg.names, names, file, "allow", problems);
  if (cfg.socket_group) {
    std::string failure;
    cfg.socket_gid = names.group(*cfg.socket_group, failure);
    if (cfg.socket_gid) cfg.names.groups.emplace(*cfg.socket_gid, *cfg.socket_group);
    if (!cfg.socket_gid) {
      problems.push_back({file, "socket_group",
                          (failure.empty() ? "no group named " + *cfg.socket_group : failure) +
                              "; the daemon cannot start with it"});
    }
  }
  for (auto& [name, org] : cfg.organizations) {
    if (org.allow)
      resolve_set(*org.allow, cfg.names, names, file, "organizations." + name + ".allow", problems);
    // A prefix of its own: clang before 16 cannot capture a structured binding.
    const auto subs_key = "organizations." + name + ".sub_organizations.";
    org.sub_organizations.resolve_allows([&](const std::string& alias, principal_set& allow) {
      resolve_set(allow, cfg.names, names, file, subs_key + alias + ".allow", problems);
    });
    resolve_sink_groups(org, names, file, "organizations." + name + ".sinks", problems);
  }
  return problems;
}

void learn_account_names(name_book& book, const std::vector<uid_t>& uids,
                         const std::vector<gid_t>& gids) {
  for (const auto uid : uids) {
    if (book.users.contains(uid)) continue;
    if (auto name = platform::user_name_of(uid)) book.users.emplace(uid, std::move(*name));
  }
  for (const auto gid : gids) {
    if (book.groups.contains(gid)) continue;
    if (auto name = platform::group_name_of(gid)) book.groups.emplace(gid, std::move(*name));
  }
}

std::vector<gid_t> groups_to_name(const config& cfg, gid_t socket_gid) {
  std::vector<gid_t> gids{socket_gid};
  const auto add = [&gids](const principal_set& set) {
    gids.insert(gids.end(), set.gids.begin(), set.gids.end());
  };
  add(cfg.admin);
  add(cfg.allow);
  for (const auto& [name, org] : cfg.organizations) {
    if (org.allow) add(*org.allow);
    for (const auto& [alias, sub] : org.sub_organizations.entries()) {
      if (sub.allow) add(*sub.allow);
    }
  }
  std::sort(gids.begin(), gids.end());
  gids.erase(std::unique(gids.begin(), gids.end()), gids.end());
  return gids;
}

void learn_group_members(name_book& book, const std::vector<gid_t>& gids,
                         const name_service& names) {
  if (!names.members || !names.user) return;
  std::size_t budget = max_member_names;
  for (const auto gid : gids) {
    if (budget == 0) return;
    for (const auto& member : names.members(gid, budget)) {
      if (budget == 0) return;
      --budget;
      std::string problem;
      if (const auto uid = names.user(member, problem)) book.users.emplace(*uid, member);
    }
  }
}

}  // namespace actoken
