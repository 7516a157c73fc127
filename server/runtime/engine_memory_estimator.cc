#include "server/runtime/engine_memory_estimator.h"

#include <algorithm>
#include <vector>

#include "engine/lora/device_lora.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {

absl::StatusOr<scheduler::MemoryDemand> EngineMemoryEstimator::Estimate(
    const scheduler::JobShape& shape) const {
  // shape.loras are adapter keys (LoraLibrary::KeyOf): each names one content for good.
  const std::string key = scheduler::MemoryKey(shape);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = cache_.find(key);
    if (found != cache_.end()) return found->second;
  }
  const LoadedModel* model = models_.Find(shape.model);
  if (!model) return absl::NotFoundError("model: unknown '" + shape.model + "'");
  std::vector<engine::LoraUse> loras;
  std::vector<const engine::LoraAdapter*> on_device;
  scheduler::MemoryDemand demand;
  const torch::ScalarType compute = model->pipeline->config().compute_dtype;
  const torch::Device device = model->planning_device;
  for (const std::string& lora_key : shape.loras) {
    auto adapter = models_.loras().FindByKey(lora_key);
    if (!adapter.ok()) return adapter.status();
    // Every adapter goes to the device's adapter cache before the launch: the scheduler counts it
    // there (once per device), not in the launch's working bytes.
    if (std::find(on_device.begin(), on_device.end(), adapter->get()) == on_device.end()) {
      on_device.push_back(adapter->get());
      demand.adapters.push_back(
          {lora_key, engine::DeviceLora::BytesOf(**adapter, compute, device)});
    }
    loras.push_back({*std::move(adapter), 1.0});
  }
  const absl::Status planned = engine::StatusOfCall([&] {
    // Before the prompts are known, plan the batch as `batch` one-image requests with distinct
    // prompts: the most embeddings a launch of this shape can hold.
    engine::GenerationRequest request;
    request.width = shape.width;
    request.height = shape.height;
    request.steps = shape.steps;
    const engine::ResolvedRequest one = engine::ResolveGenerationRequest(
        request, model->pipeline->defaults(), model->pipeline->limits());
    std::vector<engine::ResolvedRequest> batch(static_cast<std::size_t>(std::max(1, shape.batch)),
                                               one);
    // Every image with every LoRA of the launch: its tensors are held once per launch (the
    // transformer's) or once per encoded prompt (the text encoders').
    for (std::size_t i = 0; i < batch.size(); ++i) {
      batch[i].prompt = std::to_string(i);
      batch[i].loras = loras;
    }
    const engine::JobMemoryPlan plan =
        model->pipeline->PlanMemory(batch, device, std::nullopt, 1, 0, on_device);
    // Working: enough to run with every weight streamed (and more than a launch on resident
    // weights needs). Weights: what a resident copy takes on the device (compute dtype).
    demand.working_bytes =
        std::max(plan.minimum_budget_bytes(), plan.predicted_working_peak_bytes());
    demand.weight_bytes = model->weight_bytes;
  });
  if (!planned.ok()) return planned;
  std::lock_guard<std::mutex> lock(mu_);
  cache_.emplace(key, demand);
  return demand;
}

}  // namespace streamdit::server
