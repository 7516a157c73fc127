// CLIP-L text transformer (HF CLIPTextModel, flux-spec.md §5.2) on the weight-block interface:
// blocks "embeddings", "encoder.layers.{i}", "final_layer_norm", executed in that order, each
// acquired from a WeightProvider just before it computes and released right after. FLUX uses the
// final-layer-norm hidden state at the first EOS as its pooled vector `y` (no text projection).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

struct ClipTextConfig {
  int64_t hidden = 768;
  int64_t layers = 12;
  int64_t heads = 12;  // hidden / 64
  int64_t intermediate = 3072;
  int64_t vocab = 49408;
  int64_t max_positions = 77;
  double layer_norm_eps = 1e-5;
};

struct ClipTextOutput {
  torch::Tensor hidden_states;  // [B, L, hidden]: final-layer-normed states of every token
  torch::Tensor pooled;         // [B, hidden]: hidden_states at each row's first EOS
};

class ClipTextEncoder {
 public:
  static constexpr int64_t kHeadDim = 64;

  // Detects the key prefix among key_prefix::kClip, infers the configuration from the tensor
  // shapes and checks every tensor's shape (CheckpointError kMissingTensor / kBadShape /
  // kUnrecognizedLayout). text_projection, logit_scale and position_ids are ignored.
  static ClipTextEncoder Load(const Checkpoint& checkpoint);

  const ClipTextConfig& config() const { return config_; }
  // The key prefix found (before "text_model.", or before "embeddings." in transformers 5's
  // layout without that level).
  const std::string& prefix() const { return prefix_; }
  const std::vector<WeightBlock>& blocks() const { return blocks_; }

  // `input_ids` [B, L] (int64, L <= max_positions, ids < vocab). Activations use the dtype and
  // device of the tensors the provider hands out (f32 or bf16 compute); layer norms and softmax
  // run in f32. Throws StatusError INVALID_ARGUMENT naming `input_ids` for a bad shape, an id out
  // of range, or a row without `eos_id`.
  ClipTextOutput Forward(const torch::Tensor& input_ids, int64_t eos_id,
                         WeightProvider& provider) const;

 private:
  ClipTextEncoder() = default;

  Checkpoint checkpoint_;  // keeps the mapped files alive under the blocks' zero-copy views
  std::string prefix_;
  ClipTextConfig config_;
  std::vector<WeightBlock> blocks_;
};

}  // namespace streamdit::engine
