#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "scheduler/clock.h"
#include "scheduler/job.h"

namespace streamdit::scheduler {

struct DeviceConfig {
  std::string name;
  std::int64_t budget_bytes = 0;  // >= 0; the scheduler refuses a negative one at construction
  // The device's LoRA adapter cache: adapters stay on the device after their launches while the
  // cache's bytes are within this bound; beyond it, idle ones leave least recently used first
  // (adapters in use always stay). Idle adapters also leave whenever a launch needs the room.
  // kDefaultAdapterCache: a tenth of the budget; 0: none is kept once idle.
  std::int64_t adapter_cache_bytes = kDefaultAdapterCache;
  static constexpr std::int64_t kDefaultAdapterCache = -1;

  std::int64_t adapter_cache_limit() const {
    return adapter_cache_bytes == kDefaultAdapterCache ? budget_bytes / 10 : adapter_cache_bytes;
  }
};

enum class PlacementPolicy {
  // Prefer a device where the model is resident, then the device that leaves the least room unused
  // (the best fit), then streaming with the largest reservation.
  kAffinityBestFit,
  // The lowest-numbered device where the job fits at all. Used as the baseline in bench/scheduler.
  kFirstFit,
};

struct SchedulerConfig {
  // Bounded queue, per priority class; a submit beyond it is RESOURCE_EXHAUSTED (queue_full).
  std::size_t queue_capacity_per_priority = 1024;
  // One priority class is worth this much waiting: a job of priority p ranks as if it had arrived
  // p * aging_step earlier. The key is time-invariant, so no queue re-sorting is ever needed, and
  // once a job has waited aging_bound() no later arrival can rank ahead of it.
  Duration aging_step = std::chrono::seconds(10);
  // The head of the queue (the first job in rank order that fits nowhere) reserves a device after
  // waiting this long: no new work starts there until the head fits, so a stream of small jobs
  // cannot starve a large one.
  Duration head_reservation_after = std::chrono::seconds(20);
  // How many queued jobs one dispatch round looks at in rank order (backfill window). Bounds the
  // cost of a round with very long queues.
  std::size_t lookahead = 64;
  // Most images in one launch; 1 disables batching.
  int max_batch_images = 4;
  // Retries after an out-of-memory report (with a grown estimate) and after a device failure.
  int max_oom_retries = 3;
  int max_failure_retries = 3;
  // Consecutive failures after which a device is marked unhealthy and receives no more work.
  int unhealthy_after_failures = 3;
  // Factor by which the estimator's correction for a shape grows after an out-of-memory report.
  double oom_correction_growth = 1.25;
  PlacementPolicy placement = PlacementPolicy::kAffinityBestFit;
  // Baseline behaviour: rank by arrival only (no priorities) and stop each round at the first job
  // that does not fit (no backfill).
  bool strict_fifo = false;

  Duration aging_bound() const { return aging_step * (kPriorityClasses - 1); }
};

}  // namespace streamdit::scheduler
