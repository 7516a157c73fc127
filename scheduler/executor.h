#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/job.h"
#include "scheduler/memory_estimator.h"

namespace streamdit::scheduler {

// How a launch uses the model's weights on its device.
enum class WeightMode {
  kShared,    // the device already holds the weights; the launch uses that resident copy
  kLoad,      // load the weights first; they stay resident (shared) after the launch
  kStreamed,  // weights are not resident; the launch keeps what its budget allows, streams the rest
};

const char* WeightModeName(WeightMode mode);

// One unit of work handed to an executor: one or more jobs of one batch key run as one batch.
struct Launch {
  LaunchId id = 0;
  int device = 0;
  JobShape shape;           // batch = the sum of the members' batches
  std::vector<JobId> jobs;  // members, in the order their images are stacked
  WeightMode mode = WeightMode::kShared;
  std::vector<std::string> evict;  // idle resident models to drop from the device first
  // The LoRA adapters the launch uses (the union of its members'), all held in the device's
  // adapter cache for the whole launch: the ones it does not hold yet are loaded before it runs,
  // charged to the device like resident weights (outside budget_bytes). Idle adapters to drop
  // from the cache first: `evict_adapters` (keys).
  std::vector<AdapterDemand> adapters;
  std::vector<std::string> evict_adapters;
  std::int64_t model_bytes = 0;  // the model's full weight bytes
  // The byte budget of this launch, shared weights excluded. For kStreamed it is
  // predicted_working_bytes plus the weights it may keep resident for itself.
  std::int64_t budget_bytes = 0;
  std::int64_t predicted_working_bytes = 0;  // activations, window (corrected estimate)
  int attempt = 0;                           // 0 for the first try, counts OOM and failure retries
};

enum class LaunchOutcome {
  kSucceeded,
  kStopped,      // stopped at a step boundary because the scheduler asked
  kOutOfMemory,  // the launch's peak did not fit its budget
  kFailed,       // the device or the engine failed
  // Refused before any work: its budget is below the minimum the engine states for it
  // (LaunchResult::minimum_bytes). Unlike an out-of-memory, the same budget can never succeed:
  // the scheduler re-plans once with that minimum instead of retrying.
  kBelowMinimum,
};

struct LaunchResult {
  LaunchId id = 0;
  LaunchOutcome outcome = LaunchOutcome::kSucceeded;
  // Measured by the engine's memory meter; 0 (or anything <= 0) when unknown. working = peak minus
  // weights it kept.
  std::int64_t peak_bytes = 0;
  std::int64_t working_peak_bytes = 0;
  // kBelowMinimum: the launch's minimum budget (working bytes, no weights kept) as the engine
  // planned it; 0 when not stated.
  std::int64_t minimum_bytes = 0;
  std::string message;
};

// Implemented by the engine side. Start and Stop are called from the scheduler's dispatcher thread,
// never under its lock; results go back through Scheduler::OnLaunchFinished from any thread, but
// never from inside Start or Stop. Stop of a launch that already finished must be ignored.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual void Start(const Launch& launch) = 0;
  // Asks the launch to stop at its next step boundary; it then reports kStopped.
  virtual void Stop(LaunchId launch) = 0;
};

}  // namespace streamdit::scheduler
