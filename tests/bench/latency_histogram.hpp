#pragma once

/// @file
/// A latency histogram in the manner of HdrHistogram: logarithmic buckets,
/// each split into 128 linear sub-buckets, so any recorded value is known to
/// within 1/128 (< 0.8 %) from 1 ns up to about 18 minutes, in a fixed array
/// and with no allocation per sample.

#include <array>
#include <cstddef>
#include <cstdint>

namespace actoken::bench {

/// Counts of nanosecond latencies; record() is O(1), percentiles walk the array.
class latency_histogram {
 public:
  /// Adds one sample of `nanoseconds`; values past the range land in the last bucket.
  void record(std::uint64_t nanoseconds) noexcept;
  /// Adds every sample of `other`.
  void merge(const latency_histogram& other) noexcept;
  /// Forgets every sample.
  void reset() noexcept;

  /// Samples recorded.
  std::uint64_t count() const noexcept { return count_; }
  /// The largest sample, exactly.
  std::uint64_t max() const noexcept { return max_; }
  /// The smallest sample, exactly (0 when empty).
  std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  /// The arithmetic mean, exactly (0 when empty).
  double mean() const noexcept;
  /// The value at quantile `q` in [0, 1]: the upper edge of the bucket that
  /// holds the ceil(q * count)-th smallest sample, capped at max(); 0 when empty.
  std::uint64_t percentile(double q) const noexcept;

  /// Bucket index of `nanoseconds` (exposed for tests).
  static std::size_t bucket_of(std::uint64_t nanoseconds) noexcept;
  /// The largest value that falls in `bucket` (exposed for tests).
  static std::uint64_t bucket_upper(std::size_t bucket) noexcept;

  /// Linear sub-buckets per power of two: 2^sub_bucket_bits.
  static constexpr unsigned sub_bucket_bits = 7;
  /// Values up to 2^max_value_bits - 1 ns are kept apart; larger ones share the last bucket.
  static constexpr unsigned max_value_bits = 40;
  /// Buckets in the array.
  static constexpr std::size_t bucket_count = (std::size_t{max_value_bits - sub_bucket_bits} + 2)
                                              << (sub_bucket_bits - 1);

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  long double sum_ = 0;
};

}  // namespace actoken::bench
