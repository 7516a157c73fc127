// The LoRA pairs the engine's LoRA tests write, per format, for the demo model (hidden 256, MLP
// 1024, 2 double + 4 single blocks; T5 d_model 128, d_ff 256; CLIP hidden 128, MLP 512): each
// format's exact key names, on every kind of layer the issue names (attention, split q/k/v, the
// single blocks' linear1 slices, modulation, the final adaLN, embedders, both text encoders), and
// how far a result is from its reference.
#pragma once

#include <algorithm>
#include <vector>

#include "engine/demo/demo_model.h"
#include "tests/support/lora_files.h"

namespace streamdit::engine::lora_testing {

using test_support::LoraPair;

inline constexpr int64_t kHidden = 256;
inline constexpr int64_t kLinear1Rows = 3 * 256 + 1024;

// max |a - b| over max |b|: how far a result is from its reference.
inline double RelativeDifference(const torch::Tensor& a, const torch::Tensor& b) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-30);
  return (a - b).abs().max().item<double>() / scale;
}

inline LoraPair Flux(std::string stem, std::string weight, int64_t in, int64_t rows,
                     int64_t row_offset = 0) {
  LoraPair pair;
  pair.stem = std::move(stem);
  pair.model_file = kDemoTransformerFile;
  pair.weight = std::move(weight);
  pair.in = in;
  pair.rows = rows;
  pair.row_offset = row_offset;
  return pair;
}

inline LoraPair T5(std::string stem, std::string weight, int64_t in, int64_t rows) {
  LoraPair pair = Flux(std::move(stem), std::move(weight), in, rows);
  pair.model_file = kDemoT5File;
  return pair;
}

inline LoraPair Clip(std::string stem, std::string weight, int64_t in, int64_t rows) {
  LoraPair pair = Flux(std::move(stem), std::move(weight), in, rows);
  pair.model_file = kDemoClipFile;
  return pair;
}

inline std::vector<LoraPair> KohyaPairs() {
  std::vector<LoraPair> pairs = {
      Flux("lora_unet_double_blocks_0_img_attn_qkv", "double_blocks.0.img_attn.qkv.weight", kHidden,
           3 * kHidden),
      Flux("lora_unet_double_blocks_1_txt_mod_lin", "double_blocks.1.txt_mod.lin.weight", kHidden,
           6 * kHidden),
      Flux("lora_unet_single_blocks_0_linear1", "single_blocks.0.linear1.weight", kHidden,
           kLinear1Rows),
      // sd-scripts' split_qkv, saved merged: down [3r, in], up block-diagonal, scale alpha/(3r).
      Flux("lora_unet_double_blocks_1_img_attn_qkv", "double_blocks.1.img_attn.qkv.weight", kHidden,
           3 * kHidden),
      Flux("lora_unet_final_layer_adaLN_modulation_1", "final_layer.adaLN_modulation.1.weight",
           kHidden, 2 * kHidden),
      Clip("lora_te1_text_model_encoder_layers_0_self_attn_q_proj",
           "text_model.encoder.layers.0.self_attn.q_proj.weight", 128, 128),
      T5("lora_te3_encoder_block_0_layer_0_SelfAttention_q",
         "encoder.block.0.layer.0.SelfAttention.q.weight", 128, 128),
      T5("lora_te3_encoder_block_1_layer_1_DenseReluDense_wi_0",
         "encoder.block.1.layer.1.DenseReluDense.wi_0.weight", 128, 256),
  };
  pairs[0].alpha = 2.0f;
  pairs[2].alpha = 8.0f;
  pairs[3].alpha = 4.0f;
  pairs[3].rank = 2;
  pairs[3].split = 3;
  pairs[5].alpha = 0.0f;  // 0: scale 1, as sd-scripts reads it
  return pairs;
}

inline std::vector<LoraPair> DiffusersPairs() {
  std::vector<LoraPair> pairs = {
      Flux("transformer.transformer_blocks.0.attn.to_k", "double_blocks.0.img_attn.qkv.weight",
           kHidden, kHidden, kHidden),
      Flux("transformer.transformer_blocks.0.attn.add_v_proj",
           "double_blocks.0.txt_attn.qkv.weight", kHidden, kHidden, 2 * kHidden),
      Flux("transformer.single_transformer_blocks.1.attn.to_q", "single_blocks.1.linear1.weight",
           kHidden, kHidden, 0),
      Flux("transformer.single_transformer_blocks.1.proj_mlp", "single_blocks.1.linear1.weight",
           kHidden, kLinear1Rows - 3 * kHidden, 3 * kHidden),
      Flux("transformer.norm_out.linear", "final_layer.adaLN_modulation.1.weight", kHidden,
           2 * kHidden),
      Flux("transformer.single_transformer_blocks.0.norm.linear",
           "single_blocks.0.modulation.lin.weight", kHidden, 3 * kHidden),
      Flux("transformer.time_text_embed.timestep_embedder.linear_1", "time_in.in_layer.weight", 256,
           kHidden),
      Clip("text_encoder.text_model.encoder.layers.1.mlp.fc1",
           "text_model.encoder.layers.1.mlp.fc1.weight", 128, 512),
      T5("text_encoder_2.encoder.block.0.layer.0.SelfAttention.o",
         "encoder.block.0.layer.0.SelfAttention.o.weight", 128, 128),
  };
  pairs[4].swap_halves = true;
  return pairs;
}

inline std::vector<LoraPair> BflPairs() {
  std::vector<LoraPair> pairs = {
      Flux("double_blocks.1.txt_attn.proj", "double_blocks.1.txt_attn.proj.weight", kHidden,
           kHidden),
      Flux("single_blocks.2.linear2", "single_blocks.2.linear2.weight", kLinear1Rows - 2 * kHidden,
           kHidden),
      Flux("double_blocks.0.img_mod.lin", "double_blocks.0.img_mod.lin.weight", kHidden,
           6 * kHidden),
      Flux("img_in", "img_in.weight", 64, kHidden),
      Flux("final_layer.linear", "final_layer.linear.weight", kHidden, 64),
  };
  pairs[0].bias = true;
  pairs[1].bias = true;
  pairs[3].bias = true;
  return pairs;
}

}  // namespace streamdit::engine::lora_testing
