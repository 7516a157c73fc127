#include "server/runtime/engine_launch_runner.h"

#include <algorithm>
#include <exception>
#include <optional>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/status/exception_status.h"
#include "engine/status/minimum_budget.h"

namespace streamdit::server {

EngineLaunchRunner::EngineLaunchRunner(const ModelRegistry& models,
                                       std::vector<engine::ExecutionTarget> targets)
    : models_(models), targets_(std::move(targets)) {
  for (const engine::ExecutionTarget& target : targets_) {
    if (target.device.is_cpu()) engine::CpuMemoryMeter::Install();
  }
}

absl::StatusOr<engine::ExecutionTarget> EngineLaunchRunner::TargetOf(int device) const {
  if (device < 0 || device >= static_cast<int>(targets_.size())) {
    return absl::InternalError("device index " + std::to_string(device) + " has no target (" +
                               std::to_string(targets_.size()) + " devices)");
  }
  return targets_[static_cast<std::size_t>(device)];
}

std::shared_ptr<const engine::ResidentWeights> EngineLaunchRunner::FindResident(
    int device, const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = resident_.find({device, model});
  return found == resident_.end() ? nullptr : found->second;
}

absl::Status EngineLaunchRunner::PrepareAdapters(const scheduler::Launch& launch) {
  for (const std::string& key : launch.evict_adapters) {
    CachedLora evicted;  // freed outside the lock, when it goes out of scope
    std::lock_guard<std::mutex> lock(mu_);
    auto found = adapters_.find({launch.device, key});
    if (found == adapters_.end()) continue;
    evicted = std::move(found->second);
    adapters_.erase(found);
  }
  const LoadedModel* model = models_.Find(launch.shape.model);
  for (const scheduler::AdapterDemand& demand : launch.adapters) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (adapters_.count({launch.device, demand.key})) continue;
    }
    if (!model) return absl::NotFoundError("model: unknown '" + launch.shape.model + "'");
    auto adapter = models_.loras().FindByKey(demand.key);
    if (!adapter.ok()) return adapter.status();
    std::shared_ptr<const engine::DeviceLora> loaded;
    const absl::StatusOr<engine::ExecutionTarget> target = TargetOf(launch.device);
    if (!target.ok()) return target.status();
    const torch::ScalarType compute = model->pipeline->config().compute_dtype;
    const absl::Status status = engine::StatusOfCall(
        [&] { loaded = engine::DeviceLora::Load(*adapter, compute, target->device); });
    if (!status.ok()) {
      return absl::Status(status.code(), "loading LoRA '" + (*adapter)->name() +
                                             "' onto the device: " + std::string(status.message()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    adapters_[{launch.device, demand.key}] = CachedLora{model->name, std::move(loaded)};
  }
  return absl::OkStatus();
}

std::vector<CachedLoraView> EngineLaunchRunner::CachedLoras(int device) const {
  std::vector<CachedLoraView> views;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, cached] : adapters_) {
    if (key.first == device) {
      views.push_back({cached.lora->adapter().name(), cached.model, cached.lora->bytes()});
    }
  }
  return views;
}

absl::Status EngineLaunchRunner::PrepareWeights(const scheduler::Launch& launch) {
  for (const std::string& model : launch.evict) {
    std::shared_ptr<const engine::ResidentWeights> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto found = resident_.find({launch.device, model});
      if (found == resident_.end()) continue;
      evicted = std::move(found->second);
      resident_.erase(found);
    }
    // Freed here, outside the lock (the last holder: launches on this device run one at a time).
  }
  // The adapters next: evictions first free their room, and loads come before the weights' so
  // that a kStreamed launch (which loads no weights) gets them too.
  if (absl::Status adapters = PrepareAdapters(launch); !adapters.ok()) return adapters;
  if (launch.mode == scheduler::WeightMode::kStreamed) return absl::OkStatus();
  if (FindResident(launch.device, launch.shape.model)) return absl::OkStatus();
  const LoadedModel* model = models_.Find(launch.shape.model);
  if (!model) return absl::NotFoundError("model: unknown '" + launch.shape.model + "'");
  const absl::StatusOr<engine::ExecutionTarget> target = TargetOf(launch.device);
  if (!target.ok()) return target.status();
  std::shared_ptr<const engine::ResidentWeights> loaded;
  const absl::Status status = engine::StatusOfCall(
      [&] { loaded = engine::ResidentWeights::Load(*model->pipeline, *target); });
  if (!status.ok()) {
    return absl::Status(status.code(), "loading the weights of '" + model->name +
                                           "' onto the device: " + std::string(status.message()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  resident_[{launch.device, launch.shape.model}] = std::move(loaded);
  return absl::OkStatus();
}

std::vector<ResidentWeightsView> EngineLaunchRunner::ResidentWeights(int device) const {
  std::vector<ResidentWeightsView> views;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, weights] : resident_) {
    if (key.first == device) views.push_back({key.second, weights->bytes()});
  }
  return views;
}

LaunchReport EngineLaunchRunner::Run(const scheduler::Launch& launch,
                                     const std::vector<LaunchMember>& members,
                                     const std::atomic<bool>& stop,
                                     const LaunchCallbacks& launch_callbacks) {
  LaunchReport report;
  report.budget_bytes = launch.budget_bytes;
  const LoadedModel* model = models_.Find(launch.shape.model);
  if (!model) {
    report.outcome = scheduler::LaunchOutcome::kFailed;
    report.status = absl::NotFoundError("model: unknown '" + launch.shape.model + "'");
    return report;
  }
  const absl::StatusOr<engine::ExecutionTarget> target = TargetOf(launch.device);
  if (!target.ok()) {
    report.outcome = scheduler::LaunchOutcome::kFailed;
    report.status = target.status();
    return report;
  }
  engine::JobMemoryOptions memory;
  memory.budget_bytes = launch.budget_bytes;
  if (launch.mode != scheduler::WeightMode::kStreamed) {
    memory.resident_weights = FindResident(launch.device, launch.shape.model);
    if (!memory.resident_weights) {
      report.outcome = scheduler::LaunchOutcome::kFailed;
      report.status = absl::InternalError("the weights of '" + model->name +
                                          "' are not resident on the device (" +
                                          scheduler::WeightModeName(launch.mode) + " launch)");
      return report;
    }
  }
  {
    // The launch's adapters, from the device's cache (PrepareWeights put them there): the jobs use
    // them as they are, and their budgets leave them out as the scheduler did.
    std::lock_guard<std::mutex> lock(mu_);
    for (const scheduler::AdapterDemand& demand : launch.adapters) {
      auto found = adapters_.find({launch.device, demand.key});
      if (found != adapters_.end()) memory.device_loras.push_back(found->second.lora);
    }
  }
  std::vector<engine::GenerationRequest> requests;
  for (const LaunchMember& member : members) requests.push_back(member.request);

  engine::GenerationCallbacks callbacks;
  callbacks.cancelled = [&stop] { return stop.load(); };
  callbacks.on_step = [&](const engine::GenerationProgress& progress) {
    if (launch_callbacks.on_step) {
      launch_callbacks.on_step(
          {progress.step, progress.num_steps, progress.denoise_seconds, progress.step_seconds});
    }
  };
  callbacks.on_phase = launch_callbacks.on_phase;

  const absl::Status status = engine::StatusOfCall([&] {
    const engine::BatchResult batch =
        model->pipeline->GenerateBatch(requests, *target, callbacks, memory);
    report.predicted_bytes = batch.memory.predicted_peak_bytes;
    report.streamed_bytes = batch.memory.streamed_bytes;
    report.stall_seconds = batch.memory.stall_seconds;
    report.denoise_seconds = batch.timings.denoise_seconds;
    if (batch.memory.measured) report.peak_bytes = batch.memory.measured_peak();
    if (memory.resident_weights) {
      report.working_peak_bytes = report.peak_bytes;  // the shared weights are not the job's
    } else if (batch.memory.plan && batch.memory.measured) {
      const int64_t kept = report.predicted_bytes - batch.memory.plan->minimum_budget_bytes();
      report.working_peak_bytes =
          std::max<int64_t>(0, report.peak_bytes - std::max<int64_t>(0, kept));
    }
    for (const engine::GenerationResult& result : batch.results) {
      JobOutput output;
      output.png = result.png;
      output.seeds = result.request.image_seeds;
      output.width = result.request.width;
      output.height = result.request.height;
      output.encode_seconds = batch.timings.encode_seconds;
      output.denoise_seconds = batch.timings.denoise_seconds;
      output.decode_seconds = batch.timings.decode_seconds;
      output.warnings = result.warnings;
      report.outputs.push_back(std::move(output));
    }
  });
  report.status = status;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      report.outcome = scheduler::LaunchOutcome::kSucceeded;
      break;
    case absl::StatusCode::kCancelled:
      report.outcome = scheduler::LaunchOutcome::kStopped;
      break;
    case absl::StatusCode::kResourceExhausted:
      if (const std::optional<int64_t> minimum = engine::MinimumBudgetOf(status)) {
        // The budget was below the plan's minimum: nothing ran; the scheduler re-plans once with
        // the minimum the engine states.
        report.outcome = scheduler::LaunchOutcome::kBelowMinimum;
        report.minimum_bytes = *minimum;
      } else {
        // An allocation crossed the ceiling: the scheduler re-plans with a grown estimate and
        // retries.
        report.outcome = scheduler::LaunchOutcome::kOutOfMemory;
      }
      break;
    default:
      report.outcome = scheduler::LaunchOutcome::kFailed;
  }
  return report;
}

}  // namespace streamdit::server
