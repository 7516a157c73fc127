// The models a server serves: one loaded FluxPipeline per configured model, shared by every device
// and every job (FluxPipeline::Generate is const and thread-safe). Loading maps the files and
// reads the tokenizers; no weight is converted until a job runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/pipeline/flux_pipeline.h"
#include "server/runtime/lora_library.h"

namespace streamdit::server {

// What a model is called and how its pipeline is built.
struct ModelSettings {
  std::string name;
  engine::PipelineConfig pipeline;
  // The kind of device the server places this model's jobs on (cpu, or cuda when the server has
  // CUDA devices): its allocator sizes the bytes the scheduler books (weights, LoRAs, plans).
  torch::Device planning_device = torch::kCPU;
};

struct LoadedModel {
  std::string name;
  std::unique_ptr<engine::FluxPipeline> pipeline;
  // What a resident copy takes on a device (engine/pipeline/resident_weights.h): the weights in
  // the model's resident format (stored, or decoded to the compute dtype).
  int64_t weight_bytes = 0;
  // What a job on that copy decodes at most at once beside it (0 when nothing is held stored).
  int64_t decode_bytes = 0;
  // The least budget a job of the default size needs (everything streamed).
  int64_t min_budget_bytes = 0;
  // ModelSettings::planning_device.
  torch::Device planning_device = torch::kCPU;
};

class ModelRegistry {
 public:
  // Loads every model in order; the first is the default. A missing or corrupt file is the
  // engine's error (NOT_FOUND / DATA_LOSS naming the file), prefixed with the model's name.
  // `lora_dirs`: the LoRA folders; nothing is scanned until loras().Rescan().
  static absl::StatusOr<std::unique_ptr<ModelRegistry>> Load(
      std::vector<ModelSettings> models, std::vector<std::string> lora_dirs = {});

  // nullptr when no model has that name.
  const LoadedModel* Find(std::string_view name) const;
  // The model an empty name means.
  const LoadedModel& default_model() const { return *models_.front(); }
  const std::vector<std::unique_ptr<LoadedModel>>& models() const { return models_; }
  // The LoRAs requests may name, checked against every model (thread-safe).
  LoraLibrary& loras() const { return *loras_; }

 private:
  std::vector<std::unique_ptr<LoadedModel>> models_;
  std::unique_ptr<LoraLibrary> loras_;
};

}  // namespace streamdit::server
