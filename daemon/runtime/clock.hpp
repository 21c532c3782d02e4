#pragma once

/// @file
/// The daemon's two clocks behind one interface, so tests can move time.
/// Expiry is judged on the wall clock (it survives suspend); timers and
/// rate windows run on the monotonic clock (it never jumps).

#include <chrono>

namespace actoken {

using wall_clock = std::chrono::system_clock;
using wall_time = wall_clock::time_point;
using mono_clock = std::chrono::steady_clock;
using mono_time = mono_clock::time_point;
using seconds = std::chrono::seconds;

/// A source of "now" on both clocks (not `clock`, which would hide C's `::clock`).
class clock_source {
 public:
  virtual ~clock_source() = default;
  /// Now on the wall clock.
  virtual wall_time wall_now() const = 0;
  /// Now on the monotonic clock.
  virtual mono_time mono_now() const = 0;
};

/// The real clocks.
class system_clock_source final : public clock_source {
 public:
  wall_time wall_now() const override { return wall_clock::now(); }
  mono_time mono_now() const override { return mono_clock::now(); }
};

/// A clock tests set and advance; both clocks move together unless told otherwise.
class manual_clock final : public clock_source {
 public:
  wall_time wall_now() const override { return wall_; }
  mono_time mono_now() const override { return mono_; }
  /// Moves both clocks forward.
  void advance(std::chrono::nanoseconds d) {
    wall_ += std::chrono::duration_cast<wall_clock::duration>(d);
    mono_ += std::chrono::duration_cast<mono_clock::duration>(d);
  }
  /// Moves only the wall clock (a suspend, or an NTP step).
  void jump_wall(std::chrono::nanoseconds d) {
    wall_ += std::chrono::duration_cast<wall_clock::duration>(d);
  }

 private:
  wall_time wall_{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
  mono_time mono_{std::chrono::hours{1000}};
};

}  // namespace actoken
