// FLUX transformer hyperparameters, inferred from a checkpoint's tensor names and shapes so that
// flux1-dev, flux1-schnell and any smaller model of the family load without a config file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"

namespace streamdit::engine {

enum class FluxLayout { kBfl, kDiffusers };

struct FluxConfig {
  int64_t in_channels = 64;
  int64_t out_channels = 64;
  int64_t vec_in_dim = 768;
  int64_t context_in_dim = 4096;
  int64_t hidden_size = 3072;
  int64_t num_heads = 24;
  int64_t head_dim = 128;
  int64_t mlp_hidden = 12288;
  int64_t depth = 19;
  int64_t depth_single_blocks = 38;
  bool guidance_embed = true;
  bool qkv_bias = true;
  std::vector<int64_t> axes_dim = {16, 56, 56};
  double theta = 10000;
  FluxLayout layout = FluxLayout::kBfl;
  std::string prefix;  // key prefix under which the transformer was found

  // The `flux_config` metadata entry: {"axes_dim": [...], "theta": ...}.
  std::string RopeMetadataJson() const;
};

// Overrides for what cannot be read off the weights.
struct RopeOverrides {
  std::optional<std::vector<int64_t>> axes_dim;
  std::optional<double> theta;
};

// Reads shapes only (touches no tensor data). RoPE axes/theta come from `overrides`, else from the
// `flux_config` metadata entry, else FLUX.1's [16,56,56]/10000 when head_dim is 128, else an error.
// Throws CheckpointError naming the file and the offending tensor.
FluxConfig InferFluxConfig(const Checkpoint& checkpoint, const RopeOverrides& overrides = {});

// The metadata key holding the RoPE configuration.
inline constexpr char kFluxConfigMetadataKey[] = "flux_config";

}  // namespace streamdit::engine
