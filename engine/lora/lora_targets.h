// Every linear layer of a pipeline's models that a LoRA may target, under the names each LoRA
// format gives it (flux-spec.md §7):
//   kohya      lora_unet_double_blocks_0_img_attn_qkv, lora_te1_text_model_encoder_layers_0_...,
//              lora_te3_encoder_block_0_layer_0_SelfAttention_q
//   diffusers  transformer.transformer_blocks.0.attn.to_q (rows [0, hidden) of img_attn.qkv),
//              text_encoder.text_model.encoder.layers.0.self_attn.q_proj (CLIP),
//              text_encoder_2.encoder.block.0.layer.0.SelfAttention.q (T5)
//   bfl        double_blocks.0.img_attn.qkv
// Built from the models' own weight blocks, so what is found here is exactly what the engine runs.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "engine/pipeline/job_memory_plan.h"

namespace streamdit::engine {

struct LoraTarget {
  PipelineComponent component = PipelineComponent::kTransformer;
  std::string block;   // WeightBlock::name
  std::string module;  // the linear within the block
  int64_t in_features = 0;
  int64_t row_offset = 0;  // the rows of the layer this name covers (a diffusers split q/k/v)
  int64_t rows = 0;
  bool swap_halves = false;  // diffusers' norm_out.linear: BFL's halves in the other order
};

class LoraTargets {
 public:
  // The transformer's, T5's and CLIP's linears (those of `models` that are present).
  static LoraTargets Of(const JobModels& models);

  // By the module's name in a format (the key without ".lora_down.weight" and the like);
  // nullptr when no linear of the models has that name.
  const LoraTarget* Kohya(const std::string& name) const { return Find(kohya_, name); }
  const LoraTarget* Diffusers(const std::string& name) const { return Find(diffusers_, name); }
  const LoraTarget* Bfl(const std::string& name) const { return Find(bfl_, name); }

 private:
  static const LoraTarget* Find(const std::unordered_map<std::string, LoraTarget>& names,
                                const std::string& name);
  std::unordered_map<std::string, LoraTarget> kohya_;
  std::unordered_map<std::string, LoraTarget> diffusers_;
  std::unordered_map<std::string, LoraTarget> bfl_;
};

}  // namespace streamdit::engine
