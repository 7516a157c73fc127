#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "scheduler/job.h"

namespace streamdit::scheduler {

// A job's memory demand, split into what can be shared and what cannot.
//   minimum       = working_bytes                  (every weight streamed)
//   useful maximum = working_bytes + weight_bytes  (every weight resident)
// weight_bytes are the model's weights: when they are resident on a device every job of that model
// there shares them, so they are counted once per device. working_bytes are the job's own:
// activations for its batch, the streaming window, LoRA deltas.
struct MemoryDemand {
  std::int64_t weight_bytes = 0;
  std::int64_t working_bytes = 0;

  std::int64_t minimum() const { return working_bytes; }
  std::int64_t useful_maximum() const { return working_bytes + weight_bytes; }
};

// Implemented by the engine side (residency planner) and by LinearMemoryEstimator for simulation.
// Called under the scheduler's lock: must be fast and must not call back into the scheduler.
class MemoryEstimator {
 public:
  virtual ~MemoryEstimator() = default;
  // NOT_FOUND for an unknown model or LoRA, INVALID_ARGUMENT for a shape it cannot run. Both byte
  // counts of a demand are >= 0; the scheduler refuses a job whose estimate is negative (INTERNAL).
  virtual absl::StatusOr<MemoryDemand> Estimate(const JobShape& shape) const = 0;
};

}  // namespace streamdit::scheduler
