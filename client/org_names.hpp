#pragma once

/// @file
/// Organization names in what the CLI tells people (SPEC §5): the nearest known
/// name for a mistyped one ("did you mean acme?"), the names a `/v1/orgs` answer
/// lists, and daemon messages without the "organization acme: " that a table row
/// already says. Pure functions.

#include "common/nearest_name.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace actoken::client {

// The nearest name for a typo, shared with the daemon (common/nearest_name.hpp).
using actoken::name_distance;
using actoken::nearest_name;

/// The `name` of each organization in a `/v1/orgs` answer, in its order.
std::vector<std::string> org_names_of(const nlohmann::ordered_json& orgs_answer);

/// `names` as "acme, beta and corp" (at most `limit` of them, then "and N more").
std::string list_names(const std::vector<std::string>& names, std::size_t limit = 12);

/// `message` without a leading "organization ORG: " (the daemon's failures carry
/// it); "organization ORG (sub-organization S): " becomes "sub-organization S: ".
/// Any other message is returned as is.
std::string without_org_prefix(std::string_view message, std::string_view org);

}  // namespace actoken::client
