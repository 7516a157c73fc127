#include "engine/pipeline/planning_models.h"

#include <filesystem>
#include <system_error>

#include "engine/checkpoint/checkpoint.h"
#include "engine/pipeline/model_paths.h"

namespace streamdit::engine {
namespace {

void HoldAsFp8ForPlanning(FluxWeights& weights) {
  for (WeightBlock* block : Fp8EligibleBlocks(weights)) {
    for (auto& [name, tensor] : block->tensors) {
      if (!StoredAsFp8(name, tensor)) continue;
      StoredTensor shape_only;
      shape_only.data = torch::empty(
          tensor.data.sizes(), torch::TensorOptions().dtype(torch::kByte).device(torch::kMeta));
      shape_only.dtype = DType::kF8E4M3;
      tensor = shape_only;
    }
  }
}

}  // namespace

PlanningModels LoadPlanningModels(const std::string& path, WeightStorage storage) {
  PlanningModels loaded;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    const ModelPaths paths = FindModelFiles(path);
    RopeOverrides rope;
    ApplyFolderSettings(paths.settings, rope);
    VaeDecoderOptions vae;
    ApplyFolderSettings(paths.settings, vae);
    loaded.transformer = std::make_unique<FluxTransformer>(
        FluxTransformer::Load(Checkpoint::Open(paths.transformer), rope));
    loaded.t5 = std::make_unique<T5Encoder>(T5Encoder::Load(Checkpoint::Open(paths.t5)));
    loaded.clip =
        std::make_unique<ClipTextEncoder>(ClipTextEncoder::Load(Checkpoint::Open(paths.clip)));
    loaded.vae = std::make_unique<VaeDecoder>(VaeDecoder::Load(Checkpoint::Open(paths.ae), vae));
    loaded.description = path + " (transformer, T5, CLIP, VAE)";
  } else {
    loaded.transformer =
        std::make_unique<FluxTransformer>(FluxTransformer::Load(Checkpoint::Open({path})));
    loaded.description = path + " (transformer only: the denoising phase is planned)";
  }
  if (storage == WeightStorage::kFp8) HoldAsFp8ForPlanning(loaded.transformer->mutable_weights());
  return loaded;
}

}  // namespace streamdit::engine
