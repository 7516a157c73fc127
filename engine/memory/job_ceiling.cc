#include "engine/memory/job_ceiling.h"

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

// The pool: every meter ever handed out (never destroyed, see the header) and the idle ones.
struct CeilingPool {
  std::mutex mu;
  std::deque<MemoryMeter> meters;
  std::vector<MemoryMeter*> idle;
};

CeilingPool& Pool() {
  static auto* pool = new CeilingPool();  // never destroyed: blocks may be freed at exit
  return *pool;
}

MemoryMeter* AcquireMeter(MemoryMeter* parent, int64_t limit) {
  CeilingPool& pool = Pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  MemoryMeter* meter = nullptr;
  for (size_t i = 0; i < pool.idle.size(); ++i) {
    if (pool.idle[i]->current_bytes() == 0) {
      meter = pool.idle[i];
      pool.idle.erase(pool.idle.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  if (meter == nullptr) meter = &pool.meters.emplace_back();
  meter->set_parent(parent);
  meter->set_limit_bytes(limit);
  meter->ResetPeak();
  return meter;
}

void ReleaseMeter(MemoryMeter* meter) {
  CeilingPool& pool = Pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  pool.idle.push_back(meter);
}

MemoryMeter* ValidatedMeter(int64_t budget_bytes) {
  if (budget_bytes <= 0) {
    throw InvalidArgument("a job's memory ceiling must be > 0 bytes, got " +
                          std::to_string(budget_bytes));
  }
  return AcquireMeter(ScopedDeviceCharge::Current(), budget_bytes);
}

}  // namespace

ScopedJobCeiling::ScopedJobCeiling(int64_t budget_bytes)
    : meter_(ValidatedMeter(budget_bytes)), charge_(meter_) {}

ScopedJobCeiling::~ScopedJobCeiling() { ReleaseMeter(meter_); }

int ScopedJobCeiling::PoolSize() {
  CeilingPool& pool = Pool();
  std::lock_guard<std::mutex> lock(pool.mu);
  return static_cast<int>(pool.meters.size());
}

}  // namespace streamdit::engine
