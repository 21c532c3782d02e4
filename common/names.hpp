#pragma once

/// @file
/// The names the daemon and the CLI check, checked one way (STYLE 20):
/// organization names (SPEC §2) and organization ids in GUID form (SPEC §3).

#include <string_view>

namespace actoken {

/// True for names matching `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` (SPEC §2).
bool is_valid_org_name(std::string_view name) noexcept;

/// True for an `8-4-4-4-12` hex GUID, in either case.
bool is_guid(std::string_view text) noexcept;

}  // namespace actoken
