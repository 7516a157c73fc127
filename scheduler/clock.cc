#include "scheduler/clock.h"

namespace streamdit::scheduler {

TimePoint SteadyClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

TimePoint VirtualClock::Now() const { return TimePoint(Duration(now_.load())); }

void VirtualClock::AdvanceTo(TimePoint t) {
  Duration::rep target = t.time_since_epoch().count();
  Duration::rep current = now_.load();
  while (current < target && !now_.compare_exchange_weak(current, target)) {
  }
}

}  // namespace streamdit::scheduler
