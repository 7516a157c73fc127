#include "engine/lora/lora_targets.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "engine/flux/flux_diffusers_names.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {
namespace {

constexpr char kWeight[] = ".weight";

std::string Underscored(std::string path) {
  std::replace(path.begin(), path.end(), '.', '_');
  return path;
}

// The BFL module path of a transformer block's tensors: the block name without the ".modulation"
// that separates modulation blocks from their blocks ("double_blocks.0.modulation" holds
// "img_mod.lin"), nothing for the embedders (their tensors carry full names).
std::string TransformerPrefix(const std::string& block) {
  if (block == "vec_embedders" || block == "input_embedders") return "";
  const std::string modulation = ".modulation";
  if (absl::EndsWith(block, modulation))
    return block.substr(0, block.size() - modulation.size()) + ".";
  return block + ".";
}

// Embedding tables and T5's relative position bias are 2-D weights but no linear layers.
bool IsLinear(const std::string& block, const std::string& module) {
  return block != "embedding" && block != "embeddings" &&
         module.find("relative_attention_bias") == std::string::npos;
}

}  // namespace

const LoraTarget* LoraTargets::Find(const std::unordered_map<std::string, LoraTarget>& names,
                                    const std::string& name) {
  auto found = names.find(name);
  return found == names.end() ? nullptr : &found->second;
}

LoraTargets LoraTargets::Of(const JobModels& models) {
  LoraTargets targets;
  for (PipelineComponent component :
       {PipelineComponent::kTransformer, PipelineComponent::kT5, PipelineComponent::kClip}) {
    if (component == PipelineComponent::kT5 && !models.t5) continue;
    if (component == PipelineComponent::kClip && !models.clip) continue;
    for (const WeightBlock* block : ComponentBlocks(models, component)) {
      for (const auto& [tensor, stored] : block->tensors) {
        if (!absl::EndsWith(tensor, kWeight) || stored.dim() != 2) continue;
        const std::string module = tensor.substr(0, tensor.size() - (sizeof(kWeight) - 1));
        if (!IsLinear(block->name, module)) continue;
        LoraTarget target{component, block->name, module, stored.size(1), 0, stored.size(0), false};
        switch (component) {
          case PipelineComponent::kT5: {
            const std::string path = block->name + "." + module;
            targets.kohya_.emplace("lora_te3_" + Underscored(path), target);
            targets.diffusers_.emplace("text_encoder_2." + path, target);
            break;
          }
          case PipelineComponent::kClip: {
            const std::string path = "text_model." + block->name + "." + module;
            targets.kohya_.emplace("lora_te1_" + Underscored(path), target);
            targets.diffusers_.emplace("text_encoder." + path, target);
            break;
          }
          default: {
            const std::string path = TransformerPrefix(block->name) + module;
            targets.kohya_.emplace("lora_unet_" + Underscored(path), target);
            targets.bfl_.emplace(path, target);
            const DiffusersSource source = DiffusersSourceOf(path + kWeight);
            const int64_t out = target.rows;
            const int64_t parts = static_cast<int64_t>(source.parts.size());
            int64_t offset = 0;
            for (int64_t i = 0; i < parts; ++i) {
              // Split q/k/v are `in` rows each; the single blocks' fourth part (proj_mlp) is the
              // rest of linear1.
              const int64_t rows =
                  parts == 1 ? out : (i < 3 ? target.in_features : out - 3 * target.in_features);
              const std::string& part = source.parts[static_cast<std::size_t>(i)];
              LoraTarget slice = target;
              slice.row_offset = offset;
              slice.rows = rows;
              slice.swap_halves = source.swap_halves;
              targets.diffusers_.emplace(
                  "transformer." + part.substr(0, part.size() - (sizeof(kWeight) - 1)), slice);
              offset += rows;
            }
          }
        }
      }
    }
  }
  return targets;
}

}  // namespace streamdit::engine
