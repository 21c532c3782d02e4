// Skips that ctest reports as skips, never as passes.
#pragma once

#include <string_view>

/// @file
/// A test case that cannot run here (a tool is missing, it needs root, a
/// sanitizer changes what it measures) calls `skip_case(reason)` and returns;
/// a case that shows a known bug is marked `* doctest::skip()` with a comment
/// naming the bug. When nothing failed, the test binary then exits with
/// `skipped_exit_code`, which tests/CMakeLists.txt gives ctest as the test's
/// SKIP_RETURN_CODE, and prints one line per skip,
/// `actoken-skip: <test case>: <reason>`, which scripts/test lists at the end.

namespace actoken::testing {

/// The exit code of a test binary in which something was skipped and nothing failed.
inline constexpr int skipped_exit_code = 77;

/// Records that the running test case could not run here, and why. The caller returns.
void skip_case(std::string_view reason);

}  // namespace actoken::testing
