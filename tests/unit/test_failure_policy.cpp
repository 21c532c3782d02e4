// What a failed exchange does, per failure class of SPEC §3: rest, hold until
// reload, slow down for the whole auth server, back off. Pure: no clock.
#include "daemon/tokens/failure_policy.hpp"

#include <doctest/doctest.h>

using namespace actoken;
using namespace actoken::tokens;
using namespace std::chrono_literals;

namespace {

constexpr seconds retry_rejected_after{300};

failure_decision decide(errc code, bool sub_org = false, unsigned failures = 0,
                        std::optional<seconds> retry_after = std::nullopt, double unit = 0.5) {
  return decide_failure(failure{code, "scripted", retry_after}, sub_org, failures,
                        retry_rejected_after, unit);
}

}  // namespace

TEST_CASE("a rejected root key rests the organization; a rejected sub-organization, its key") {
  const auto root = decide(errc::key_rejected, false, 3);
  CHECK(root.effect == failure_effect::rest_org);
  CHECK(root.wait == retry_rejected_after);
  CHECK(root.failures == 3);  // a rejection is not a transient failure
  // Callers learn when the key is tried again: the rest, whatever the server said.
  CHECK(root.retry_after == retry_rejected_after);
  CHECK(decide(errc::key_rejected, false, 0, 7s).retry_after == retry_rejected_after);

  const auto sub = decide(errc::key_rejected, true);
  CHECK(sub.effect == failure_effect::rest_cache_key);
  CHECK(sub.wait == retry_rejected_after);
  CHECK(sub.retry_after == retry_rejected_after);
}

TEST_CASE("a missing endpoint and a TLS failure hold until reload") {
  for (const auto code : {errc::endpoint_not_found, errc::upstream_tls}) {
    CAPTURE(code_name(code));
    const auto decision = decide(code, false, 2);
    CHECK(decision.effect == failure_effect::hold_until_reload);
    CHECK(decision.wait == mono_clock::duration::zero());
    CHECK(decision.failures == 2);
    CHECK_FALSE(decision.retry_after.has_value());  // no next try before a reload
  }
}

TEST_CASE("a 429 slows down the auth server for its Retry-After, else for a backoff") {
  const auto told = decide(errc::rate_limited, false, 0, 40s);
  CHECK(told.effect == failure_effect::slow_down_server);
  CHECK(told.wait == 40s);
  CHECK(told.retry_after == 40s);
  CHECK(told.failures == 0);

  // Without Retry-After: what the next backoff would be (the first: at most 1 s).
  const auto untold = decide(errc::rate_limited, false, 0, std::nullopt, 0.99);
  CHECK(untold.effect == failure_effect::slow_down_server);
  CHECK(untold.wait <= 1s);
  CHECK(untold.retry_after == 1s);
}

TEST_CASE("transient failures back off, doubling, honouring a longer Retry-After") {
  for (const auto code : {errc::upstream_unavailable, errc::upstream_timeout,
                          errc::bad_upstream_response, errc::internal_error}) {
    CAPTURE(code_name(code));
    const auto first = decide(code, false, 0, std::nullopt, 0.99);
    CHECK(first.effect == failure_effect::back_off);
    CHECK(first.failures == 1);
    CHECK(first.wait <= 1s);
    CHECK(first.retry_after == 1s);

    const auto fifth = decide(code, true, 4, std::nullopt, 0.99);
    CHECK(fifth.failures == 5);
    CHECK(fifth.wait > 15s);  // the ceiling is 16 s; the draw is near the top
    CHECK(fifth.wait <= 16s);
    CHECK(fifth.retry_after == 16s);
  }
  const auto longer = decide(errc::upstream_unavailable, false, 0, 120s, 0.5);
  CHECK(longer.wait == 120s);
  CHECK(longer.retry_after == 120s);
}

TEST_CASE("a Retry-After is whole seconds, rounded up, never under 1 s") {
  CHECK(retry_after_of(0ms) == 1s);
  CHECK(retry_after_of(1ms) == 1s);
  CHECK(retry_after_of(1001ms) == 2s);
  CHECK(retry_after_of(30s) == 30s);
}
