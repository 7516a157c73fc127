#include "server/runtime/engine_memory_estimator.h"

#include <algorithm>
#include <vector>

#include "engine/pipeline/job_memory_plan.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {

absl::StatusOr<scheduler::MemoryDemand> EngineMemoryEstimator::Estimate(
    const scheduler::JobShape& shape) const {
  // A rescan may change what a LoRA name means: the library's generation is part of the key.
  const std::string key =
      scheduler::MemoryKey(shape) + "|g" + std::to_string(models_.loras().generation());
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = cache_.find(key);
    if (found != cache_.end()) return found->second;
  }
  const LoadedModel* model = models_.Find(shape.model);
  if (!model) return absl::NotFoundError("model: unknown '" + shape.model + "'");
  std::vector<engine::LoraUse> loras;
  for (const std::string& name : shape.loras) {
    auto adapter = models_.loras().Find(name, model->name);
    if (!adapter.ok()) return adapter.status();
    loras.push_back({*std::move(adapter), 1.0});
  }
  scheduler::MemoryDemand demand;
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
    const engine::JobMemoryPlan plan = model->pipeline->PlanMemory(batch, std::nullopt);
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
