// The FLUX VAE decoder (BFL modules/autoencoder.py Decoder, flux-spec.md §4) on the weight-block
// interface: latent [B, z, h, w] -> image [B, 3, f*h, f*w] in [-1, 1], f = 8 for FLUX.
//
// Blocks, in order: "conv_in_mid" (conv_in, mid resnet, mid attention, mid resnet), "up.{L-1}" ...
// "up.0" (the resnets of one level and its upsample), "out" (norm_out, swish, conv_out). Each
// block is acquired from the WeightProvider just before it runs and released right after, so the
// provider decides residency and streaming.
//
// Tiled decoding bounds the activation peak by the tile instead of the image. Its output is not
// identical to untiled decoding: the mid attention and every GroupNorm are global over the image
// in the untiled model and only see one tile when tiled; the overlap cross-fade hides seams, not
// that difference (see vae_decoder_test.cc for its measured size).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/model/weight_block.h"
#include "engine/vae/vae_checkpoint.h"
#include "engine/vae/vae_config.h"
#include "engine/vae/vae_tiling.h"

namespace streamdit::engine {

struct VaeDecoderOptions {
  LatentScaling latent_scaling;
  // GroupNorm groups, overriding what the checkpoint says (its vae_config metadata, else 32): a
  // diffusers folder states them in vae/config.json (norm_num_groups).
  std::optional<int64_t> norm_groups;
  // Queries per attention chunk: the score matrix held at once is query_chunk x positions
  // (1024 x 16384 floats = 64 MiB for a 1024x1024 image).
  int64_t attention_query_chunk = 1024;
};

class VaeDecoder {
 public:
  // Recognises the layout (BFL or diffusers) and the key prefix and infers the configuration;
  // throws CheckpointError (see LoadVaeDecoderWeights). Touches no tensor data.
  static VaeDecoder Load(const Checkpoint& checkpoint, VaeDecoderOptions options = {});

  const VaeDecoderConfig& config() const { return weights_.config; }
  VaeLayout layout() const { return weights_.layout; }
  const std::string& key_prefix() const { return weights_.key_prefix; }
  const std::vector<WeightBlock>& blocks() const { return weights_.blocks; }
  int64_t parameter_count() const { return weights_.parameter_count(); }
  const VaeDecoderOptions& options() const { return options_; }

  // Untiled decode. `latent` [B, z_channels, h, w] (any floating dtype, any device: it is moved
  // to the device the provider hands weights out on); activations run in `compute_dtype`.
  // Returns float32 [B, out_channels, f*h, f*w] clamped to [-1, 1] on the compute device.
  // Throws StatusError INVALID_ARGUMENT for a latent of the wrong rank or channel count, or a
  // non-floating compute dtype.
  torch::Tensor Decode(const torch::Tensor& latent, WeightProvider& provider,
                       torch::ScalarType compute_dtype) const;

  // Decodes overlapping latent tiles independently and cross-fades them (vae_tiling.h). A latent
  // no larger than one tile in both dimensions is decoded untiled (bit-identical to Decode).
  torch::Tensor DecodeTiled(const torch::Tensor& latent, WeightProvider& provider,
                            torch::ScalarType compute_dtype, TileOptions tiles = {}) const;

 private:
  VaeDecoder(VaeDecoderWeights weights, VaeDecoderOptions options)
      : weights_(std::move(weights)), options_(options) {}

  void ValidateInputs(const torch::Tensor& latent, torch::ScalarType compute_dtype) const;
  // z / scale + shift, in float32 (BFL decodes from a float32 latent).
  torch::Tensor Unscale(const torch::Tensor& latent) const;
  // Runs every block on an unscaled latent; returns the unclamped float32 image.
  torch::Tensor Run(const torch::Tensor& z, WeightProvider& provider,
                    torch::ScalarType compute_dtype) const;
  torch::Tensor RunBlock(std::size_t index, const torch::Tensor& x,
                         const BlockTensors& tensors) const;

  VaeDecoderWeights weights_;
  VaeDecoderOptions options_;
};

}  // namespace streamdit::engine
