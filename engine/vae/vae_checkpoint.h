// Reads a FLUX VAE decoder's weights into weight blocks, from either layout:
//   BFL (ae.safetensors):   decoder.conv_in, decoder.mid.{block_1,attn_1,block_2},
//                           decoder.up.{level}.block.{j}, decoder.up.{level}.upsample.conv,
//                           decoder.norm_out, decoder.conv_out
//   diffusers (vae/):       decoder.up_blocks.{L-1-level}.resnets.{j}, .upsamplers.0.conv,
//                           decoder.mid_block.resnets.{0,1}, decoder.mid_block.attentions.0
//                           (group_norm, to_q/to_k/to_v, to_out.0 as squeezed [C, C] linears),
//                           conv_shortcut for nin_shortcut, decoder.conv_norm_out
// under any key_prefix::kVae prefix ("", "vae.", "first_stage_model."); encoder.* is ignored.
// Both layouts become the same blocks with BFL-style tensor names, so one forward serves both.
//
// The configuration is inferred from shapes: z_channels and the mid width from conv_in, the level
// count from the up levels present, each level's width from its first resnet, num_res_blocks from
// the resnets of level 0. GroupNorm groups default to 32; a checkpoint may lower them through
// __metadata__ {"vae_config": "{\"norm_groups\": 8}"} (tiny test VAEs only: real VAEs use 32).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/model/weight_block.h"
#include "engine/vae/vae_config.h"

namespace streamdit::engine {

enum class VaeLayout { kBfl, kDiffusers };

// Block names, in execution order: kVaeConvInMidBlock, "up.{L-1}" ... "up.0", kVaeOutBlock.
inline constexpr const char* kVaeConvInMidBlock = "conv_in_mid";
inline constexpr const char* kVaeOutBlock = "out";
std::string VaeUpBlockName(int64_t level);

// Tensor names inside the blocks (BFL names relative to "decoder." and, for up levels, to
// "up.{level}."). The attention q/k/v/proj_out weights are always held as [C, C].
struct VaeDecoderWeights {
  VaeDecoderConfig config;
  VaeLayout layout = VaeLayout::kBfl;
  std::string key_prefix;
  std::vector<WeightBlock> blocks;
  Checkpoint checkpoint;  // keeps the mapped files (which the blocks view) alive

  int64_t parameter_count() const;
};

// Throws CheckpointError: kUnrecognizedLayout when no decoder is found, kMissingTensor /
// kBadShape naming the tensor when the layout is incomplete or inconsistent, kInvalidEntry for
// an unreadable vae_config metadata entry. `norm_groups`, when given, replaces the checkpoint's
// GroupNorm group count (still checked against every width).
VaeDecoderWeights LoadVaeDecoderWeights(const Checkpoint& checkpoint,
                                        std::optional<int64_t> norm_groups = std::nullopt);

const char* VaeLayoutName(VaeLayout layout);

}  // namespace streamdit::engine
