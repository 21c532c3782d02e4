#pragma once

/// @file
/// Who may do what (SPEC §4 "Access control"), from the peer's kernel
/// credentials only: uid, gid and the connecting process's supplementary
/// groups, compared with numbers. The configuration's user and group names
/// were resolved to numbers when it was loaded (daemon/settings/name_resolution.hpp),
/// so nothing here asks the name service. Root and the daemon's own uid are
/// always admin. Besides yes or no, it says which rule let a peer in (for
/// `/v1/whoami`) and words a refusal with the peer's name and the fix, using
/// only the names learnt at load (`name_book`).

#include "daemon/keys/org_table.hpp"
#include "daemon/platform/peer.hpp"
#include "daemon/settings/config.hpp"

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::api {

/// What a peer may use of one organization, and by which rule (`/v1/whoami`).
struct org_access {
  /// One listed sub-organization the peer may use.
  struct sub_org {
    std::optional<std::string> alias;  ///< its name in `sub_organizations`
    std::string id;                    ///< its GUID
    std::string via;                   ///< the rule that lets the peer use it
  };

  /// The rule that lets the peer in: "admin", "users: builder", "groups:
  /// developers", "allow (top level) groups: ci".
  std::string via;
  bool root = true;               ///< may get the organization's root token
  std::vector<sub_org> sub_orgs;  ///< the listed sub-organizations it may use
  bool any_sub_org = true;        ///< may ask for GUIDs not listed
};

/// Which of an organization's tokens a request asks for (SPEC §3 cache key).
struct token_scope {
  /// The sub-organization's GUID (lower case); empty for the root token.
  std::string_view id;
  /// Its entry in `sub_organizations` (asked for by alias or by GUID), or
  /// null when the GUID is not listed.
  const sub_org_config* listed = nullptr;

  bool unlisted() const noexcept { return !id.empty() && listed == nullptr; }
};

/// Decides admin rights and per-organization access for a peer.
class access_policy {
 public:
  /// `names`: the names learnt at load, for what this says about peers.
  access_policy(uid_t daemon_uid, principal_set admin, principal_set allow, name_book names = {});

  /// May change keys and flush every organization's tokens.
  bool is_admin(const platform::peer_credentials& peer) const;
  /// May get `org`'s root token (and flush its tokens): root or the daemon's
  /// uid, or listed in the org's `allow` (the top-level `allow` when the org
  /// has none). Being admin alone is not enough: admins manage keys, they do
  /// not need every token.
  bool may_use(const platform::peer_credentials& peer, const org_settings& org) const;
  /// May get the token of `scope` (SPEC §4 "Least privilege for
  /// sub-organizations"): a listed sub-organization with an `allow` of its
  /// own follows that list alone (root and the daemon's uid aside); the root
  /// token, other listed ones and unlisted GUIDs follow the organization's
  /// rule; with `any_sub_org` false, an unlisted GUID is refused to everyone.
  /// Number comparisons only: this is on the hot path.
  bool may_use(const platform::peer_credentials& peer, const org_settings& org,
               const token_scope& scope) const;
  /// May use something of `org`: its root token or one listed
  /// sub-organization (who sees it in `/v1/orgs` and `/v1/whoami`).
  bool may_see(const platform::peer_credentials& peer, const org_settings& org) const;
  /// What `peer` may use of `org` and why; nullopt when it may use nothing.
  std::optional<org_access> access_to(const platform::peer_credentials& peer,
                                      const org_settings& org) const;

  /// The peer's groups (primary or supplementary) that some rule names:
  /// `admin`, the top-level `allow`, or an `allow` of one of `orgs` or of
  /// their sub-organizations; sorted, each once (`/v1/whoami` lists them
  /// first). Costs (rule entries x log groups).
  std::vector<gid_t> groups_in_rules(
      const platform::peer_credentials& peer,
      const std::vector<std::shared_ptr<const org_settings>>& orgs) const;

  /// The user's name as learnt at load, or nullopt.
  std::optional<std::string> user_name(uid_t uid) const;
  /// The group's name as learnt at load, or nullopt.
  std::optional<std::string> group_name(gid_t gid) const;
  /// "user builder (uid 1001)", or "uid 1001" when no name is known.
  std::string describe(const platform::peer_credentials& peer) const;

  /// The `forbidden` message for a peer that may not use `org`: who, which
  /// organization, and which list of `config_file` to add it to.
  std::string use_refused(const platform::peer_credentials& peer, const org_settings& org,
                          std::string_view config_file) const;
  /// The `forbidden` message for a peer that may not get the token of
  /// `scope`: who, which sub-organization of which organization, and what
  /// to change in `config_file`.
  std::string use_refused(const platform::peer_credentials& peer, const org_settings& org,
                          const token_scope& scope, std::string_view config_file) const;
  /// The `forbidden` message for a peer that is not admin and asked to
  /// `action` (e.g. "change the key of organization acme").
  std::string admin_refused(const platform::peer_credentials& peer, std::string_view action,
                            std::string_view config_file) const;

 private:
  struct match;
  bool always_allowed(const platform::peer_credentials& peer) const noexcept;
  std::optional<match> find_rule(const platform::peer_credentials& peer,
                                 const org_settings& org) const;
  std::optional<match> find_sub_org_rule(const platform::peer_credentials& peer,
                                         const principal_set& allow) const;
  std::string rule_text(const match& rule) const;

  uid_t daemon_uid_;
  principal_set admin_;
  principal_set allow_;
  name_book names_;
};

}  // namespace actoken::api
