#include "daemon/tokens/refresh_policy.hpp"

#include <algorithm>

namespace actoken::tokens {

wall_time refresh_point(wall_time obtained_at, wall_time expires_at, seconds refresh_before,
                        double unit) {
  const auto lifetime = std::max(expires_at - obtained_at, wall_clock::duration::zero());
  const auto lead = std::min<wall_clock::duration>(refresh_before, lifetime / 2);
  const double factor = 0.9 + 0.2 * std::clamp(unit, 0.0, 1.0);
  const auto jittered = std::chrono::duration_cast<wall_clock::duration>(
      std::chrono::duration<double, wall_clock::period>(static_cast<double>(lead.count()) *
                                                        factor));
  return expires_at - jittered;
}

std::chrono::nanoseconds young_for(wall_time obtained_at, wall_time expires_at) {
  const auto lifetime = std::max(expires_at - obtained_at, wall_clock::duration::zero());
  return std::min<std::chrono::nanoseconds>(young_limit, lifetime / 2);
}

std::chrono::milliseconds backoff_ceiling(unsigned failures) {
  if (failures == 0) {
    return std::chrono::milliseconds{0};
  }
  const auto exponent = std::min(failures - 1, 16U);
  const auto ceiling = std::chrono::milliseconds{backoff_base} * (1LL << exponent);
  return std::min<std::chrono::milliseconds>(ceiling, backoff_cap);
}

std::chrono::milliseconds backoff_delay(unsigned failures, double unit) {
  const auto ceiling = backoff_ceiling(failures);
  const auto drawn = std::chrono::milliseconds{
      static_cast<long long>(static_cast<double>(ceiling.count()) * std::clamp(unit, 0.0, 1.0))};
  return std::max(drawn, std::min(ceiling, std::chrono::milliseconds{100}));
}

}  // namespace actoken::tokens
