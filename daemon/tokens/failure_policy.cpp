#include "daemon/tokens/failure_policy.hpp"

#include "daemon/tokens/refresh_policy.hpp"

#include <algorithm>

namespace actoken::tokens {
namespace {

mono_clock::duration as_mono(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<mono_clock::duration>(d);
}

}  // namespace

seconds retry_after_of(mono_clock::duration d) {
  return std::max(seconds{1}, std::chrono::ceil<seconds>(d));
}

failure_decision decide_failure(const failure& failed, bool sub_org, unsigned failures,
                                seconds retry_rejected_after, double unit) {
  failure_decision decision;
  decision.failures = failures;
  switch (failed.code) {
    case errc::key_rejected:
      decision.effect = sub_org ? failure_effect::rest_cache_key : failure_effect::rest_org;
      decision.wait = retry_rejected_after;
      // The rest is a wait like a backoff's: callers learn when the key is tried again.
      decision.retry_after = retry_after_of(decision.wait);
      return decision;
    case errc::endpoint_not_found:
    case errc::upstream_tls:
      decision.effect = failure_effect::hold_until_reload;
      return decision;
    case errc::rate_limited:
      // The server said how long; without a Retry-After, what a backoff would wait.
      decision.effect = failure_effect::slow_down_server;
      decision.wait = failed.retry_after ? mono_clock::duration{*failed.retry_after}
                                         : as_mono(backoff_delay(failures + 1, unit));
      decision.retry_after = retry_after_of(decision.wait);
      return decision;
    default:
      // Transient: back off this cache key, honouring a longer Retry-After.
      decision.effect = failure_effect::back_off;
      decision.failures = failures + 1;
      decision.wait = as_mono(backoff_delay(decision.failures, unit));
      if (failed.retry_after) {
        decision.wait = std::max(decision.wait, mono_clock::duration{*failed.retry_after});
      }
      decision.retry_after = retry_after_of(decision.wait);
      return decision;
  }
}

}  // namespace actoken::tokens
