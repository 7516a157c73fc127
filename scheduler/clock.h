#pragma once

#include <atomic>
#include <chrono>

namespace streamdit::scheduler {

// The scheduler never reads the wall clock itself: every decision takes `now` explicitly, and the
// thread-safe front asks a Clock for it. Production uses the steady clock; tests and simulations
// use a VirtualClock, which makes a run over hours of traffic take milliseconds and be
// reproducible.
using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SteadyClock final : public Clock {
 public:
  TimePoint Now() const override;
};

// Time moves only when the owner says so. Atomic so that a test may read it from other threads.
class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(TimePoint start = TimePoint{}) : now_(start.time_since_epoch().count()) {}
  TimePoint Now() const override;
  // Moves time forward to `t`; a `t` in the past is ignored (time never runs backwards).
  void AdvanceTo(TimePoint t);
  void Advance(Duration d) { AdvanceTo(Now() + d); }

 private:
  std::atomic<Duration::rep> now_;
};

inline double ToSeconds(Duration d) { return std::chrono::duration<double>(d).count(); }
inline Duration FromSeconds(double seconds) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

}  // namespace streamdit::scheduler
