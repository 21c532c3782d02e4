#include "tests/bench/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace actoken::bench {
namespace {

constexpr std::uint64_t half = std::uint64_t{1} << (latency_histogram::sub_bucket_bits - 1);
constexpr std::uint64_t linear_limit = std::uint64_t{1} << latency_histogram::sub_bucket_bits;

}  // namespace

std::size_t latency_histogram::bucket_of(std::uint64_t nanoseconds) noexcept {
  // Below 2^sub_bucket_bits every value has its own bucket. Above, a value
  // whose top bit is bit m keeps its top sub_bucket_bits bits: the exponent
  // e = m - sub_bucket_bits + 1 selects a group of `half` buckets.
  if (nanoseconds < linear_limit) return static_cast<std::size_t>(nanoseconds);
  const auto width = static_cast<unsigned>(std::bit_width(nanoseconds));  // m + 1
  const auto exponent = width - sub_bucket_bits;
  if (exponent > max_value_bits - sub_bucket_bits) {
    return bucket_count - 1;
  }
  const auto mantissa = nanoseconds >> exponent;  // in [half, 2 * half)
  return static_cast<std::size_t>(exponent * half + mantissa);
}

std::uint64_t latency_histogram::bucket_upper(std::size_t bucket) noexcept {
  if (bucket < linear_limit) return bucket;
  const auto exponent = bucket / half - 1;
  const auto mantissa = bucket - exponent * half;
  return ((std::uint64_t{mantissa} + 1) << exponent) - 1;
}

void latency_histogram::record(std::uint64_t nanoseconds) noexcept {
  ++counts_[bucket_of(nanoseconds)];
  ++count_;
  max_ = std::max(max_, nanoseconds);
  min_ = std::min(min_, nanoseconds);
  sum_ += static_cast<long double>(nanoseconds);
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  min_ = std::min(min_, other.min_);
  sum_ += other.sum_;
}

void latency_histogram::reset() noexcept { *this = latency_histogram{}; }

double latency_histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t latency_histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the sample asked for, 1-based: at least the first.
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucket_upper(i), max_);
  }
  return max_;
}

}  // namespace actoken::bench
