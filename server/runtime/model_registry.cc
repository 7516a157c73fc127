#include "server/runtime/model_registry.h"

#include <utility>

#include "engine/pipeline/job_memory_plan.h"
#include "engine/pipeline/resident_weights.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {

absl::StatusOr<std::unique_ptr<ModelRegistry>> ModelRegistry::Load(
    std::vector<ModelSettings> models, std::vector<std::string> lora_dirs) {
  if (models.empty()) return absl::InvalidArgumentError("models: at least one model is required");
  auto registry = std::make_unique<ModelRegistry>();
  for (ModelSettings& settings : models) {
    if (registry->Find(settings.name)) {
      return absl::InvalidArgumentError("models: the name '" + settings.name + "' is used twice");
    }
    auto model = std::make_unique<LoadedModel>();
    model->name = settings.name;
    model->planning_device = settings.planning_device;
    settings.pipeline.model_name = settings.name;
    const absl::Status loaded = engine::StatusOfCall([&] {
      model->pipeline = std::make_unique<engine::FluxPipeline>(
          engine::FluxPipeline::Load(std::move(settings.pipeline)));
      const engine::FluxPipeline& pipeline = *model->pipeline;
      const engine::ResolvedRequest request =
          engine::ResolveGenerationRequest({}, pipeline.defaults(), pipeline.limits());
      const engine::JobMemoryPlan plan =
          pipeline.PlanMemory(request, model->planning_device, std::nullopt);
      model->min_budget_bytes = plan.minimum_budget_bytes();
      model->weight_bytes = engine::ResidentWeights::BytesOf(pipeline, model->planning_device);
      model->decode_bytes = engine::ResidentWeights::DecodeBytesOf(
          pipeline.models(), pipeline.config().compute_dtype, model->planning_device,
          pipeline.config().resident_format);
    });
    if (!loaded.ok()) {
      return absl::Status(loaded.code(),
                          "model '" + model->name + "': " + std::string(loaded.message()));
    }
    registry->models_.push_back(std::move(model));
  }
  std::vector<LoraLibrary::Model> pipelines;
  for (const auto& model : registry->models_) {
    pipelines.push_back({model->name, model->pipeline.get(), model->planning_device});
  }
  registry->loras_ = std::make_unique<LoraLibrary>(std::move(lora_dirs), std::move(pipelines));
  return registry;
}

const LoadedModel* ModelRegistry::Find(std::string_view name) const {
  for (const auto& model : models_) {
    if (model->name == name) return model.get();
  }
  return nullptr;
}

}  // namespace streamdit::server
