#include "daemon/tokens/refresh_policy.hpp"

#include <doctest/doctest.h>

using namespace actoken;
using namespace actoken::tokens;
using namespace std::chrono_literals;

TEST_CASE("refresh point: min(refresh_before, L/2), jittered within ±10%") {
  const wall_time t0{seconds{1'800'000'000}};
  // L = 3600 s, refresh_before 900 s: refresh with 810..990 s left.
  CHECK(refresh_point(t0, t0 + 3600s, 900s, 0.0) == t0 + 3600s - 810s);
  CHECK(refresh_point(t0, t0 + 3600s, 900s, 0.5) == t0 + 3600s - 900s);
  CHECK(refresh_point(t0, t0 + 3600s, 900s, 1.0) == t0 + 3600s - 990s);
  // L = 600 s: half the lifetime wins.
  CHECK(refresh_point(t0, t0 + 600s, 900s, 0.5) == t0 + 300s);
  // Any draw stays within the bounds.
  for (double unit = 0; unit < 1; unit += 0.01) {
    const auto at = refresh_point(t0, t0 + 6s, 900s, unit);
    CHECK(at >= t0 + 6s - 3300ms);
    CHECK(at <= t0 + 6s - 2700ms);
  }
}

TEST_CASE("backoff ceilings double from 1 s to 300 s") {
  CHECK(backoff_ceiling(0) == 0ms);
  CHECK(backoff_ceiling(1) == 1s);
  CHECK(backoff_ceiling(2) == 2s);
  CHECK(backoff_ceiling(3) == 4s);
  CHECK(backoff_ceiling(9) == 256s);
  CHECK(backoff_ceiling(10) == 300s);
  CHECK(backoff_ceiling(1000) == 300s);
}

TEST_CASE("full jitter: uniform below the ceiling, never a tight loop") {
  CHECK(backoff_delay(4, 0.0) == 100ms);
  CHECK(backoff_delay(4, 0.5) == 4s);
  CHECK(backoff_delay(4, 0.999) < 8s);
  CHECK(backoff_delay(20, 1.0) == 300s);
}
