// The service's front, without gRPC: requests are validated, admitted by the scheduler against
// the devices' byte budgets, batched, placed, run by one worker per device through a LaunchRunner
// (the engine's pipeline in production), and every accepted job ends exactly once through its
// on_done callback. The gRPC layer, the CLI and bench/service all call this.
//
// Threads: Submit, Cancel and Status may be called from any thread and never block on a running
// generation. Callbacks run on the scheduler's dispatcher thread (on_queued runs inside Submit,
// on_started / on_step on the device's worker thread): they must be quick and must not call
// Submit/Drain.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/memory/memory_meter.h"
#include "scheduler/scheduler.h"
#include "server/runtime/device_workers.h"
#include "server/runtime/launch_runner.h"
#include "server/runtime/model_registry.h"
#include "server/runtime/service_observer.h"

namespace streamdit::server {

// Each device has its own memory meter whose limit is its budget: the worker's allocations are
// charged to it (engine/memory/device_charge.h), and one that would cross the budget fails the
// launch as out of memory, which the scheduler re-plans and retries.
struct DeviceSettings {
  std::string name;  // "cpu:0", "cuda:1", ...
  int64_t budget_bytes = 0;
  // The LoRA adapter cache's bound (scheduler::DeviceConfig::adapter_cache_bytes).
  int64_t lora_cache_bytes = scheduler::DeviceConfig::kDefaultAdapterCache;
  // A CUDA device: its index and the card's memory (> 0), as discovered at start. 0 for a CPU
  // device.
  int cuda_index = 0;
  int64_t total_bytes = 0;
};

// Request limits on top of each model's own (size multiple of 16, steps, guidance).
struct RequestLimits {
  int min_size = 64;
  int max_size = 2048;
  int64_t max_pixels = 2048 * 2048;
  int max_steps = 100;
  std::size_t max_prompt_bytes = 8192;
  int max_images_per_request = 4;
};

struct ServiceSettings {
  std::vector<DeviceSettings> devices;
  scheduler::SchedulerConfig scheduler;
  RequestLimits limits;
};

// A LoRA a request names (the server's LoraLibrary resolves it for the job's model).
struct LoraRequest {
  std::string name;
  double strength = 1.0;
};

struct GenerationJob {
  std::string model;  // empty: the default model
  // Resolved into request.loras by Submit: NOT_FOUND for an unknown name, FAILED_PRECONDITION for
  // a file that cannot be used with the model (both naming loras[i]).
  std::vector<LoraRequest> loras;
  // Unset size/steps/guidance take the model's defaults. seed 0 draws a random 32-bit seed;
  // seeds above 2^32 - 1 are refused (BFL seeds PyTorch's CPU generator, which uses 32 bits).
  engine::GenerationRequest request;
  scheduler::Priority priority = scheduler::Priority::kNormal;
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct JobResult {
  JobOutput output;
  std::string model;
  std::string device;
  double queue_seconds = 0;
  int64_t budget_bytes = 0;
  int64_t predicted_bytes = 0;
  int64_t peak_bytes = 0;
  int batch_images = 0;  // images in the launch the job ran in (its own and others')
};

struct JobEvents {
  std::function<void(int position)> on_queued;  // 0 = next to run
  std::function<void(const std::string& device, int64_t budget_bytes)> on_started;
  std::function<void(const LaunchProgress&)> on_step;
  // Exactly once per accepted job: the result, or why there is none (CANCELLED,
  // DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL, ...).
  std::function<void(absl::StatusOr<JobResult>)> on_done;
};

struct DeviceStatusView {
  std::string name;
  int64_t budget_bytes = 0;
  int64_t reserved_bytes = 0;  // job reservations
  int64_t resident_bytes = 0;  // resident model weights (scheduler's accounting)
  int64_t used_bytes = 0;      // measured now (the device's meter)
  int64_t peak_bytes = 0;      // measured high-water mark since the service started
  std::vector<std::string> resident_models;
  // The resident copies the device holds, measured (what each allocated there), by model.
  std::vector<ResidentWeightsView> resident_weights;
  int64_t adapter_bytes = 0;                 // cached LoRA adapters (scheduler's accounting)
  std::vector<CachedLoraView> cached_loras;  // the device's adapter cache, measured
  int running_launches = 0;
  bool healthy = true;
};

struct ServiceStatus {
  bool draining = false;
  int queue_depth = 0;
  std::array<int, scheduler::kPriorityClasses> queue_depth_by_priority{};  // [low, normal, high]
  std::vector<DeviceStatusView> devices;
};

// Who watches the service (metrics): both optional, both must outlive the service.
struct ServiceObservers {
  scheduler::SchedulerObserver* scheduler = nullptr;
  ServiceObserver* service = nullptr;
};

class GenerationService {
 public:
  GenerationService(const ModelRegistry& models, ServiceSettings settings,
                    std::unique_ptr<scheduler::MemoryEstimator> estimator,
                    std::unique_ptr<LaunchRunner> runner, ServiceObservers observers = {});
  // Ends whatever is still pending with UNAVAILABLE.
  ~GenerationService();
  GenerationService(const GenerationService&) = delete;
  GenerationService& operator=(const GenerationService&) = delete;

  // Validates (INVALID_ARGUMENT naming the field, the limit and the value; NOT_FOUND for the
  // model) and admits (RESOURCE_EXHAUSTED when it can never fit or the queue is full,
  // UNAVAILABLE when draining). On success the job runs and `events.on_done` is called once.
  absl::StatusOr<scheduler::JobId> Submit(GenerationJob job, JobEvents events);
  // A queued job leaves at once; a running one stops at its next step. False when unknown/ended.
  bool Cancel(scheduler::JobId id);
  ServiceStatus Status() const;
  // Stops admission (new work gets UNAVAILABLE) and waits until every accepted job has ended.
  void Drain();
  // Cancels every job still queued or running (they end CANCELLED, never silently): what a drain
  // does when its grace period runs out. Returns how many were cancelled.
  int CancelAll();

  // Rescans the LoRA folders on a thread of its own (reading files never blocks the caller) and
  // calls `done` with the report from there. Jobs already submitted keep their adapters.
  void ReloadLoras(std::function<void(const LoraScanReport&)> done);

  const ModelRegistry& models() const { return models_; }
  const RequestLimits& limits() const { return settings_.limits; }

 private:
  class Executor;
  struct JobRecord;

  absl::Status Validate(const GenerationJob& job, const LoadedModel& model) const;
  void RunLaunch(const scheduler::Launch& launch, std::shared_ptr<std::atomic<bool>> stop);
  void OnJobEnded(scheduler::JobId id, const absl::Status& status);
  void ReportDeviceMemory(int device) const;
  void ReportResidentWeights(const scheduler::Launch& launch) const;

  const ModelRegistry& models_;
  ServiceSettings settings_;
  std::unique_ptr<scheduler::MemoryEstimator> estimator_;
  std::unique_ptr<LaunchRunner> runner_;
  ServiceObserver no_service_observer_;
  ServiceObserver& observer_;
  scheduler::SteadyClock clock_;
  std::unique_ptr<DeviceWorkers> workers_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<scheduler::Scheduler> scheduler_;

  mutable std::mutex mu_;
  std::unordered_map<scheduler::JobId, std::shared_ptr<JobRecord>> jobs_;
  std::unordered_map<scheduler::LaunchId, std::shared_ptr<std::atomic<bool>>> stops_;
  // Never deleted: a tensor charged to a device (a prompt embedding the pipeline's cache keeps)
  // may be freed after this service is gone, and its free is counted against the meter.
  std::vector<engine::MemoryMeter*> device_meters_;
  // LoRA rescans in flight or finished (guarded by mu_): finished ones are joined by the next
  // ReloadLoras, the rest by the destructor.
  struct Reload {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::vector<Reload> reloads_;
};

}  // namespace streamdit::server
