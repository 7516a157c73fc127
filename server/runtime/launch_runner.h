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
#include "engine/pipeline/weight_provider_factory.h"
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
  // kSucceeded (outputs has one entry per member, in order), kStopped, kOutOfMemory, kFailed or
  // kBelowMinimum (with minimum_bytes).
  scheduler::LaunchOutcome outcome = scheduler::LaunchOutcome::kSucceeded;
  absl::Status status;  // why it did not succeed
  std::vector<JobOutput> outputs;
  int64_t budget_bytes = 0;     // the ceiling the launch ran under
  int64_t predicted_bytes = 0;  // the engine's predicted peak for the launch
  int64_t peak_bytes = 0;       // measured (0 when the device has no meter)
  // The measured peak less the weights the launch kept resident beyond its plan's minimum: what
  // the scheduler's estimator learns its corrections from (0 when unknown).
  int64_t working_peak_bytes = 0;
  int64_t minimum_bytes = 0;   // kBelowMinimum: the engine's minimum budget for the launch
  int64_t streamed_bytes = 0;  // weight bytes copied into streaming slots
  double stall_seconds = 0;    // time compute waited for them
  double denoise_seconds = 0;
};

struct LaunchProgress {
  int step = 0;  // 1-based
  int num_steps = 0;
  double elapsed_seconds = 0;
  double step_seconds = 0;  // this step's wall time
};

// What a runner reports while a launch runs, from the device's worker thread.
struct LaunchCallbacks {
  std::function<void(const LaunchProgress&)> on_step;  // after every denoising step
  std::function<void(engine::PipelinePhase, double seconds)> on_phase;  // after every phase
};

// A model's weights held resident on a device (kLoad loaded them; kShared launches use them).
struct ResidentWeightsView {
  std::string model;
  int64_t bytes = 0;  // measured: what the copy allocated on the device
};

// A LoRA adapter held in a device's adapter cache (converted to the compute dtype there).
struct CachedLoraView {
  std::string name;
  std::string model;
  int64_t bytes = 0;  // measured: what its tensors allocated on the device
};

class LaunchRunner {
 public:
  virtual ~LaunchRunner() = default;
  // Runs on the device's worker thread before Run, charged to the device but outside the
  // launch's measured peak: frees the resident weights of launch.evict and the cached adapters of
  // launch.evict_adapters; for a kLoad launch (or a kShared one whose copy is missing), loads the
  // model's weights onto the device; converts the launch's adapters the device's cache lacks.
  // RESOURCE_EXHAUSTED when they do not fit; the launch then reports out of memory.
  virtual absl::Status PrepareWeights(const scheduler::Launch& launch) {
    (void)launch;
    return absl::OkStatus();
  }
  // The weights held resident on `device` (the scheduler's device index), by model.
  virtual std::vector<ResidentWeightsView> ResidentWeights(int device) const {
    (void)device;
    return {};
  }

  // The device's adapter cache (the scheduler's device index).
  virtual std::vector<CachedLoraView> CachedLoras(int device) const {
    (void)device;
    return {};
  }

  // Runs on the device's worker thread. `stop` turns true when the scheduler asks the launch to
  // stop (all its members were cancelled or expired): return kStopped at the next step.
  virtual LaunchReport Run(const scheduler::Launch& launch,
                           const std::vector<LaunchMember>& members, const std::atomic<bool>& stop,
                           const LaunchCallbacks& callbacks) = 0;
};

}  // namespace streamdit::server
