#include "daemon/api/access_policy.hpp"

#include <algorithm>

namespace actoken::api {

/// The rule that lets a peer in: always (root, the daemon's uid), or one
/// entry of an allow list, its own or the top-level one.
struct access_policy::match {
  enum class by { always, user, group };
  by kind = by::always;
  bool top_level = false;  // the top-level `allow`, for an org without its own
  unsigned id = 0;         // the uid or gid that matched
  // The alias of the sub-organization whose own `allow` matched; empty for
  // the organization's rule.
  std::string_view sub_org_alias;
};

namespace {

template <class T>
bool contains(const std::vector<T>& list, const T& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// True when the peer carries group `gid`, as its primary group or one of its
// supplementary groups (sorted at accept: a binary search, SPEC §4 "No peer
// can slow the others down").
bool carries(const platform::peer_credentials& peer, gid_t gid) {
  return peer.gid == gid || std::binary_search(peer.groups.begin(), peer.groups.end(), gid);
}

// The entry of `set` that the peer's uid, primary gid or one of its
// supplementary groups matches: the uid first, then the primary group, then
// the first group of the list that the peer carries. Names play no part: the
// numbers they resolved to at load are in the set. Costs (entries x log
// groups), whatever the number of groups the peer carries.
std::optional<std::pair<bool, unsigned>> matching_entry(const principal_set& set,
                                                        const platform::peer_credentials& peer) {
  if (contains(set.uids, peer.uid)) return std::pair{true, static_cast<unsigned>(peer.uid)};
  if (contains(set.gids, peer.gid)) return std::pair{false, static_cast<unsigned>(peer.gid)};
  for (const auto gid : set.gids) {
    if (carries(peer, gid)) return std::pair{false, static_cast<unsigned>(gid)};
  }
  return std::nullopt;
}

// Adds the groups of `set` that the peer carries to `out`.
void add_carried(const principal_set& set, const platform::peer_credentials& peer,
                 std::vector<gid_t>& out) {
  for (const auto gid : set.gids) {
    if (carries(peer, gid)) out.push_back(gid);
  }
}

template <class Id>
std::optional<std::string> name_in(const std::map<Id, std::string>& book, Id id) {
  const auto found = book.find(id);
  if (found == book.end()) return std::nullopt;
  return found->second;
}

std::string config_file_text(std::string_view config_file) {
  return config_file.empty() ? std::string("the config file") : std::string(config_file);
}

}  // namespace

access_policy::access_policy(uid_t daemon_uid, principal_set admin, principal_set allow,
                             name_book names)
    : daemon_uid_(daemon_uid),
      admin_(std::move(admin)),
      allow_(std::move(allow)),
      names_(std::move(names)) {}

bool access_policy::always_allowed(const platform::peer_credentials& peer) const noexcept {
  return peer.uid == 0 || peer.uid == daemon_uid_;
}

bool access_policy::is_admin(const platform::peer_credentials& peer) const {
  return always_allowed(peer) || matching_entry(admin_, peer).has_value();
}

bool access_policy::may_use(const platform::peer_credentials& peer, const org_settings& org) const {
  return find_rule(peer, org).has_value();
}

std::optional<access_policy::match> access_policy::find_rule(const platform::peer_credentials& peer,
                                                             const org_settings& org) const {
  if (always_allowed(peer)) return match{};
  // Admins manage keys; they get tokens only where an allow list names them.
  const bool top_level = !org.allow;
  const auto entry = matching_entry(top_level ? allow_ : *org.allow, peer);
  if (!entry) return std::nullopt;
  return match{entry->first ? match::by::user : match::by::group, top_level, entry->second, {}};
}

bool access_policy::may_use(const platform::peer_credentials& peer, const org_settings& org,
                            const token_scope& scope) const {
  // The config names the sub-organizations this key may reach: for everyone.
  if (scope.unlisted() && !org.sub_organizations.any_sub_org) return false;
  if (scope.listed != nullptr && scope.listed->allow) {
    return always_allowed(peer) || matching_entry(*scope.listed->allow, peer).has_value();
  }
  return find_rule(peer, org).has_value();
}

bool access_policy::may_see(const platform::peer_credentials& peer, const org_settings& org) const {
  if (find_rule(peer, org)) return true;
  const auto& entries = org.sub_organizations.entries();
  return std::any_of(entries.begin(), entries.end(), [&](const auto& entry) {
    const auto& allow = entry.second.allow;
    return allow && matching_entry(*allow, peer).has_value();
  });
}

std::optional<access_policy::match> access_policy::find_sub_org_rule(
    const platform::peer_credentials& peer, const principal_set& allow) const {
  if (always_allowed(peer)) return match{};
  const auto entry = matching_entry(allow, peer);
  if (!entry) return std::nullopt;
  return match{entry->first ? match::by::user : match::by::group, false, entry->second, {}};
}

std::string access_policy::rule_text(const match& rule) const {
  if (rule.kind == match::by::always) return "admin";
  std::string text = rule.top_level ? "allow (top level) " : "";
  if (!rule.sub_org_alias.empty()) {
    text = "sub_organizations." + std::string(rule.sub_org_alias) + ".allow ";
  }
  if (rule.kind == match::by::user) {
    text += "users: " + user_name(rule.id).value_or(std::to_string(rule.id));
  } else {
    text += "groups: " + group_name(rule.id).value_or(std::to_string(rule.id));
  }
  return text;
}

std::optional<org_access> access_policy::access_to(const platform::peer_credentials& peer,
                                                   const org_settings& org) const {
  const auto org_rule = find_rule(peer, org);
  org_access access;
  access.root = org_rule.has_value();
  if (org_rule) access.via = rule_text(*org_rule);
  // A sub-organization with an allow of its own follows it alone; the others
  // follow the organization's rule.
  for (const auto& [alias, sub] : org.sub_organizations.entries()) {
    auto rule = org_rule;
    if (sub.allow) {
      rule = find_sub_org_rule(peer, *sub.allow);
      if (rule) rule->sub_org_alias = alias;
    }
    if (rule) access.sub_orgs.push_back({alias, sub.id, rule_text(*rule)});
  }
  if (!access.root && access.sub_orgs.empty()) return std::nullopt;
  // Unlisted GUIDs follow the organization's rule, when they are taken at all.
  access.any_sub_org = access.root && org.sub_organizations.any_sub_org;
  // Let in by sub-organizations alone: the rule of the first one says why.
  if (!access.root) access.via = access.sub_orgs.front().via;
  return access;
}

std::vector<gid_t> access_policy::groups_in_rules(
    const platform::peer_credentials& peer,
    const std::vector<std::shared_ptr<const org_settings>>& orgs) const {
  std::vector<gid_t> found;
  add_carried(admin_, peer, found);
  add_carried(allow_, peer, found);
  for (const auto& org : orgs) {
    if (org->allow) add_carried(*org->allow, peer, found);
    for (const auto& [alias, sub] : org->sub_organizations.entries()) {
      if (sub.allow) add_carried(*sub.allow, peer, found);
    }
  }
  std::sort(found.begin(), found.end());
  found.erase(std::unique(found.begin(), found.end()), found.end());
  return found;
}

std::optional<std::string> access_policy::user_name(uid_t uid) const {
  return name_in(names_.users, uid);
}

std::optional<std::string> access_policy::group_name(gid_t gid) const {
  return name_in(names_.groups, gid);
}

std::string access_policy::describe(const platform::peer_credentials& peer) const {
  const auto uid = "uid " + std::to_string(peer.uid);
  const auto name = user_name(peer.uid);
  return name ? "user " + *name + " (" + uid + ")" : uid;
}

std::string access_policy::use_refused(const platform::peer_credentials& peer,
                                       const org_settings& org,
                                       std::string_view config_file) const {
  const auto own_list = "organizations." + org.name + ".allow";
  // Without a list of its own, the organization follows the top-level one.
  const auto where =
      org.allow ? own_list : "allow (or " + own_list + " for " + org.name + " alone)";
  return describe(peer) + " may not use organization " + org.name +
         ": add the user or one of its groups to " + where + " in " +
         config_file_text(config_file) + ", then reload";
}

std::string access_policy::use_refused(const platform::peer_credentials& peer,
                                       const org_settings& org, const token_scope& scope,
                                       std::string_view config_file) const {
  if (scope.id.empty()) return use_refused(peer, org, config_file);
  const auto subs = "organizations." + org.name + ".sub_organizations";
  const auto* alias = org.sub_organizations.alias_of(scope.id);
  const auto what = describe(peer) + " may not use sub-organization " +
                    (alias != nullptr ? *alias : std::string(scope.id)) + " of organization " +
                    org.name + ": ";
  const auto file = " in " + config_file_text(config_file) + ", then reload";
  if (scope.unlisted() && !org.sub_organizations.any_sub_org) {
    return what + "it is not listed in " + subs +
           " and any_sub_org is false; list it there, with an allow naming the user or one of "
           "its groups," +
           file;
  }
  if (scope.listed != nullptr && scope.listed->allow) {
    // One GUID has one allow (the config refuses two): every alias of it changes together.
    std::string others;
    for (const auto& [name, sub] : org.sub_organizations.entries()) {
      if (sub.id == scope.id && name != *alias) others += (others.empty() ? "" : ", ") + name;
    }
    const auto also = others.empty() ? "" : " (and of " + others + ", the same id, alike)";
    return what + "add the user or one of its groups to " + subs + "." + *alias + ".allow" + also +
           file;
  }
  const auto own_list = "organizations." + org.name + ".allow";
  const auto where =
      org.allow ? own_list : "allow (or " + own_list + " for " + org.name + " alone)";
  return what + "add the user or one of its groups to " + where + file;
}

std::string access_policy::admin_refused(const platform::peer_credentials& peer,
                                         std::string_view action,
                                         std::string_view config_file) const {
  return describe(peer) + " may not " + std::string(action) +
         ": only admins may; add the user or one of its groups to admin in " +
         config_file_text(config_file) + ", then reload";
}

}  // namespace actoken::api
