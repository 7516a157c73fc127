#include "server/runtime/engine_memory_estimator.h"

#include <algorithm>
#include <vector>

#include "engine/pipeline/job_memory_plan.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {

absl::StatusOr<scheduler::MemoryDemand> EngineMemoryEstimator::Estimate(
    const scheduler::JobShape& shape) const {
  const std::string key = scheduler::MemoryKey(shape);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = cache_.find(key);
    if (found != cache_.end()) return found->second;
  }
  const LoadedModel* model = models_.Find(shape.model);
  if (!model) return absl::NotFoundError("model: unknown '" + shape.model + "'");
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
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].prompt = std::to_string(i);
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
