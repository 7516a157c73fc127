#include "server/runtime/engine_launch_runner.h"

#include <algorithm>
#include <exception>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {

EngineLaunchRunner::EngineLaunchRunner(const ModelRegistry& models) : models_(models) {
  for (const auto& model : models_.models()) {
    if (model->pipeline->config().device.is_cpu()) engine::CpuMemoryMeter::Install();
  }
}

int64_t EngineLaunchRunner::EngineBudget(const scheduler::Launch& launch) {
  if (launch.mode == scheduler::WeightMode::kStreamed) return launch.budget_bytes;
  return launch.budget_bytes + launch.model_bytes;
}

LaunchReport EngineLaunchRunner::Run(const scheduler::Launch& launch,
                                     const std::vector<LaunchMember>& members,
                                     const std::atomic<bool>& stop,
                                     const std::function<void(const LaunchProgress&)>& on_step) {
  LaunchReport report;
  report.budget_bytes = EngineBudget(launch);
  const LoadedModel* model = models_.Find(launch.shape.model);
  if (!model) {
    report.outcome = scheduler::LaunchOutcome::kFailed;
    report.status = absl::NotFoundError("model: unknown '" + launch.shape.model + "'");
    return report;
  }
  std::vector<engine::GenerationRequest> requests;
  for (const LaunchMember& member : members) requests.push_back(member.request);

  engine::GenerationCallbacks callbacks;
  callbacks.cancelled = [&stop] { return stop.load(); };
  callbacks.on_step = [&](const engine::GenerationProgress& progress) {
    if (on_step) on_step({progress.step, progress.num_steps, progress.denoise_seconds});
  };
  engine::JobMemoryOptions memory;
  memory.budget_bytes = report.budget_bytes;

  const absl::Status status = engine::StatusOfCall([&] {
    const engine::BatchResult batch = model->pipeline->GenerateBatch(requests, callbacks, memory);
    if (batch.memory.plan) report.predicted_bytes = batch.memory.plan->predicted_peak_bytes();
    if (batch.memory.measured) report.peak_bytes = batch.memory.measured_peak();
    if (batch.memory.plan && batch.memory.measured) {
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
      // The plan did not fit the budget, or an allocation crossed it: the scheduler re-plans with
      // a grown estimate and retries.
      report.outcome = scheduler::LaunchOutcome::kOutOfMemory;
      break;
    default:
      report.outcome = scheduler::LaunchOutcome::kFailed;
  }
  return report;
}

}  // namespace streamdit::server
