#include "tests/bench/latency_histogram.hpp"

#include <doctest/doctest.h>

#include <cstdint>

using actoken::bench::latency_histogram;

TEST_CASE("small values have a bucket each") {
  for (std::uint64_t v = 0; v < 128; ++v) {
    CHECK(latency_histogram::bucket_of(v) == v);
    CHECK(latency_histogram::bucket_upper(v) == v);
  }
}

TEST_CASE("buckets are contiguous, ordered, and hold their values within 1/64") {
  std::size_t previous = 0;
  for (std::uint64_t v = 1; v < (std::uint64_t{1} << 40); v += v / 37 + 1) {
    const auto bucket = latency_histogram::bucket_of(v);
    REQUIRE(bucket < latency_histogram::bucket_count);
    CHECK(bucket >= previous);
    CHECK(bucket <= previous + 1 + v / 37);  // no gaps bigger than the step
    previous = bucket;
    const auto upper = latency_histogram::bucket_upper(bucket);
    CHECK(upper >= v);
    CHECK(static_cast<double>(upper - v) <= static_cast<double>(v) / 64.0);
    // The bucket's upper edge belongs to the bucket; the next value does not.
    CHECK(latency_histogram::bucket_of(upper) == bucket);
    CHECK(latency_histogram::bucket_of(upper + 1) == bucket + 1);
  }
}

TEST_CASE("values past the range share the last bucket") {
  CHECK(latency_histogram::bucket_of(std::uint64_t{1} << 41) ==
        latency_histogram::bucket_count - 1);
  CHECK(latency_histogram::bucket_of(UINT64_MAX) == latency_histogram::bucket_count - 1);
  CHECK(latency_histogram::bucket_of((std::uint64_t{1} << 40) - 1) ==
        latency_histogram::bucket_count - 1);
}

TEST_CASE("percentiles of a known distribution") {
  latency_histogram h;
  CHECK(h.percentile(0.5) == 0);
  // 1..1000 microseconds, one sample each.
  for (std::uint64_t us = 1; us <= 1000; ++us) h.record(us * 1000);
  CHECK(h.count() == 1000);
  CHECK(h.min() == 1000);
  CHECK(h.max() == 1'000'000);
  CHECK(h.mean() == doctest::Approx(500'500.0));
  const auto near = [](std::uint64_t got, double want) {
    return static_cast<double>(got) >= want && static_cast<double>(got) <= want * (1 + 1.0 / 64);
  };
  CHECK(near(h.percentile(0.5), 500'000));
  CHECK(near(h.percentile(0.99), 990'000));
  CHECK(near(h.percentile(0.999), 999'000));
  CHECK(h.percentile(1.0) == 1'000'000);  // capped at the exact max
  CHECK(near(h.percentile(0.0), 1000));
}

TEST_CASE("merge adds counts and keeps extremes") {
  latency_histogram a;
  latency_histogram b;
  a.record(10);
  a.record(20);
  b.record(5);
  b.record(1'000'000);
  a.merge(b);
  CHECK(a.count() == 4);
  CHECK(a.min() == 5);
  CHECK(a.max() == 1'000'000);
  CHECK(a.percentile(0.5) == 10);
  a.reset();
  CHECK(a.count() == 0);
  CHECK(a.max() == 0);
}
