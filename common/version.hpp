#pragma once

/// @file
/// The version both binaries report.

#include <string_view>

namespace actoken {

/// Set by CMake from `project(VERSION)`.
inline constexpr std::string_view version = ACTOKEN_VERSION;

}  // namespace actoken
