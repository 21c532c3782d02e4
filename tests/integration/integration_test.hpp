#pragma once

/// @file
/// What every integration test file starts from: doctest, the harness (temporary folders, child
/// processes, the socket client), and the names the tests use unqualified. A test file is a
/// program of its own, so these using-directives at file scope are deliberate here, and only
/// here.

#include "tests/integration/harness.hpp"
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <string_view>

namespace actoken::testing {

/// Skips the case, saying why, when the daemon under test is built with AddressSanitizer (its
/// `mlock` always succeeds; its mappings make a core of tens of GiB): true when it did.
inline bool skipped_under_asan(std::string_view why) {
  if (!daemon_under_asan()) return false;
  skip_case(std::string("under AddressSanitizer, ") + std::string(why));
  return true;
}

}  // namespace actoken::testing

using namespace actoken;
using namespace actoken::testing;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
