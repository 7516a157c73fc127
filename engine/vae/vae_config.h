// The shape of a FLUX-style VAE decoder (BFL autoencoder.py Decoder), inferred from a checkpoint's
// tensor shapes rather than read from a config file, so that the real ae.safetensors and small
// test VAEs load the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace streamdit::engine {

struct VaeDecoderConfig {
  int64_t z_channels = 16;
  int64_t ch = 128;
  std::vector<int64_t> ch_mult = {1, 2, 4, 4};
  int64_t num_res_blocks = 2;  // the decoder runs num_res_blocks + 1 resnets per level
  int64_t out_channels = 3;
  // GroupNorm groups of every norm. 32 in every real VAE; tiny test VAEs may store a smaller
  // count in the checkpoint's __metadata__ (see vae_checkpoint.h).
  int64_t norm_groups = 32;

  int64_t num_levels() const { return static_cast<int64_t>(ch_mult.size()); }
  int64_t level_channels(int64_t level) const { return ch * ch_mult.at(level); }
  // conv_in and the mid blocks run at the deepest level's width (BFL: ch * ch_mult[-1]).
  int64_t mid_channels() const { return level_channels(num_levels() - 1); }
  // Every level but level 0 ends with a nearest x2 upsample.
  int64_t upsample_factor() const { return int64_t{1} << (num_levels() - 1); }
  int64_t resnets_per_level() const { return num_res_blocks + 1; }

  std::string ToString() const;
};

// Latent normalisation undone before decoding: z / scale + shift (flux-spec.md §3, §4).
struct LatentScaling {
  double scale = 0.3611;
  double shift = 0.1159;
};

}  // namespace streamdit::engine
