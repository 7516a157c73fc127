#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "scheduler/job.h"

namespace streamdit::scheduler {

// One LoRA adapter as a device holds it: `key` names exactly one adapter's content for one model
// (a changed file is another key), `bytes` its tensors on the device.
struct AdapterDemand {
  std::string key;
  std::int64_t bytes = 0;
};

// A job's memory demand, split into what can be shared and what cannot.
//   minimum       = working_bytes + adapter bytes                 (every weight streamed)
//   useful maximum = working_bytes + adapter bytes + weight_bytes (every weight resident)
// weight_bytes are the model's weights: when they are resident on a device every job of that model
// there shares them, so they are counted once per device. Adapters are shared the same way: a
// device's adapter cache holds each once for every launch that uses it. working_bytes are the
// job's own: activations for its batch, the streaming window, the adapters' scratch.
struct MemoryDemand {
  std::int64_t weight_bytes = 0;
  std::int64_t working_bytes = 0;
  std::vector<AdapterDemand> adapters;  // distinct keys

  std::int64_t adapter_bytes() const {
    std::int64_t bytes = 0;
    for (const AdapterDemand& adapter : adapters) bytes += adapter.bytes;
    return bytes;
  }
  std::int64_t minimum() const { return working_bytes + adapter_bytes(); }
  std::int64_t useful_maximum() const { return minimum() + weight_bytes; }
};

// Implemented by the engine side (residency planner) and by LinearMemoryEstimator for simulation.
// Called under the scheduler's lock: must be fast and must not call back into the scheduler.
class MemoryEstimator {
 public:
  virtual ~MemoryEstimator() = default;
  // NOT_FOUND for an unknown model or LoRA, INVALID_ARGUMENT for a shape it cannot run. Every byte
  // count of a demand is >= 0; the scheduler refuses a job whose estimate is negative (INTERNAL).
  // `shape.loras` are adapter keys; the demand lists each once in `adapters`.
  virtual absl::StatusOr<MemoryDemand> Estimate(const JobShape& shape) const = 0;
};

}  // namespace streamdit::scheduler
