// What a device worker does with a launch: runs its jobs as one batch and says how it went. The
// engine-backed runner (engine_launch_runner.h) runs the FLUX pipeline; an engine-free runner
// lets bench/service measure the front end alone. No gRPC here.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/pipeline/generation_request.h"
#include "scheduler/executor.h"

namespace streamdit::server {

// One job of a launch, as the runner needs it.
struct LaunchMember {
  scheduler::JobId id = 0;
  engine::GenerationRequest request;  // seed resolved (never "random" here)
};

// A finished job's output.
struct JobOutput {
  std::vector<std::string> png;  // one per image
  std::vector<uint64_t> seeds;   // the seed of each image
  int width = 0;
  int height = 0;
  double encode_seconds = 0;
  double denoise_seconds = 0;
  double decode_seconds = 0;
  std::vector<std::string> warnings;
};

struct LaunchReport {
  // kSucceeded (outputs has one entry per member, in order), kStopped, kOutOfMemory or kFailed.
  scheduler::LaunchOutcome outcome = scheduler::LaunchOutcome::kSucceeded;
  absl::Status status;  // why it did not succeed
  std::vector<JobOutput> outputs;
  int64_t budget_bytes = 0;     // the ceiling the launch ran under
  int64_t predicted_bytes = 0;  // the engine's predicted peak for the launch
  int64_t peak_bytes = 0;       // measured (0 when the device has no meter)
  // The measured peak less the weights the launch kept resident beyond its plan's minimum: what
  // the scheduler's estimator learns its corrections from (0 when unknown).
  int64_t working_peak_bytes = 0;
};

struct LaunchProgress {
  int step = 0;  // 1-based
  int num_steps = 0;
  double elapsed_seconds = 0;
};

class LaunchRunner {
 public:
  virtual ~LaunchRunner() = default;
  // Runs on the device's worker thread. `stop` turns true when the scheduler asks the launch to
  // stop (all its members were cancelled or expired): return kStopped at the next step.
  virtual LaunchReport Run(const scheduler::Launch& launch,
                           const std::vector<LaunchMember>& members, const std::atomic<bool>& stop,
                           const std::function<void(const LaunchProgress&)>& on_step) = 0;
};

}  // namespace streamdit::server
