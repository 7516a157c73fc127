// A job's budget as a hard ceiling on the CPU device: while a ScopedJobCeiling lives, every
// allocation the thread (and the threads the job starts: the streaming prefetch worker) makes is
// counted in a meter of the job's own whose limit is the budget, nested in the device's meter when
// the thread already charges one (the server's workers). An allocation that would take the job
// above its budget fails with c10::OutOfMemoryError, as on a full GPU, which the pipeline turns
// into RESOURCE_EXHAUSTED naming the phase: a misprediction is a clean error, never a silent
// crossing of the budget.
//
// The job's meter counts from zero at the scope's start, so the limit is on the job's bytes above
// what the device held when it started (JobMemoryOptions::budget_bytes). Blocks that outlive the
// job (its images, cached prompt embeddings) stay counted in that meter until freed; a meter is
// used again only by a later job once it counts nothing, so stale frees never loosen a ceiling.
// Meters live for the process (a pool), because freed blocks find their meter through their header.
#pragma once

#include <cstdint>

#include "engine/memory/device_charge.h"
#include "engine/memory/memory_meter.h"

namespace streamdit::engine {

class ScopedJobCeiling {
 public:
  // `budget_bytes` > 0: the job's ceiling. Requires the CPU meter (CpuMemoryMeter::Install()),
  // which counts what the ceiling checks.
  explicit ScopedJobCeiling(int64_t budget_bytes);
  ~ScopedJobCeiling();
  ScopedJobCeiling(const ScopedJobCeiling&) = delete;
  ScopedJobCeiling& operator=(const ScopedJobCeiling&) = delete;

  // The job's bytes now, and the ceiling.
  int64_t current_bytes() const { return meter_->current_bytes(); }
  int64_t limit_bytes() const { return meter_->limit_bytes(); }

  // How many meters the process's pool holds (for tests: jobs that leave nothing behind reuse one).
  static int PoolSize();

 private:
  MemoryMeter* meter_;
  ScopedDeviceCharge charge_;
};

}  // namespace streamdit::engine
