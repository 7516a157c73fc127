#include "engine/vae/vae_decoder.h"

#include <ATen/ATen.h>

#include <string>
#include <utility>

#include "engine/checkpoint/shape_string.h"
#include "engine/model/scoped_block.h"
#include "engine/status/status_error.h"
#include "engine/vae/vae_layers.h"

namespace streamdit::engine {

VaeDecoder VaeDecoder::Load(const Checkpoint& checkpoint, VaeDecoderOptions options) {
  if (options.attention_query_chunk < 1) {
    throw InvalidArgument("attention_query_chunk must be >= 1, got " +
                          std::to_string(options.attention_query_chunk));
  }
  return VaeDecoder(LoadVaeDecoderWeights(checkpoint, options.norm_groups), options);
}

void VaeDecoder::ValidateInputs(const torch::Tensor& latent,
                                torch::ScalarType compute_dtype) const {
  if (!latent.defined() || latent.dim() != 4 || latent.size(1) != config().z_channels ||
      latent.size(2) < 1 || latent.size(3) < 1 || latent.size(0) < 1) {
    throw InvalidArgument(
        "latent must be [B, " + std::to_string(config().z_channels) +
        ", h, w] with B, h, w >= 1, "
        "got " +
        (latent.defined() ? ShapeString(latent.sizes()) : std::string("undefined")));
  }
  if (!latent.is_floating_point()) {
    throw InvalidArgument("latent must be a floating-point tensor");
  }
  if (!at::isFloatingType(compute_dtype)) {
    throw InvalidArgument("compute_dtype must be a floating-point type");
  }
}

torch::Tensor VaeDecoder::Unscale(const torch::Tensor& latent) const {
  const LatentScaling& s = options_.latent_scaling;
  return latent.to(torch::kFloat) / s.scale + s.shift;
}

torch::Tensor VaeDecoder::RunBlock(std::size_t index, const torch::Tensor& x,
                                   const BlockTensors& tensors) const {
  const VaeDecoderConfig& c = config();
  const int64_t groups = c.norm_groups;
  if (index == 0) {
    torch::Tensor h = VaeConv(x, tensors, "conv_in");
    h = VaeResnet(h, tensors, "mid.block_1", groups);
    h = VaeAttention(h, tensors, "mid.attn_1", groups, options_.attention_query_chunk);
    return VaeResnet(h, tensors, "mid.block_2", groups);
  }
  if (index == weights_.blocks.size() - 1) {
    const torch::Tensor h = VaeGroupNorm(x, tensors, "norm_out", groups, /*swish=*/true);
    return VaeConv(h, tensors, "conv_out");
  }
  // Blocks 1..L hold levels L-1..0.
  const int64_t level = c.num_levels() - static_cast<int64_t>(index);
  torch::Tensor h = x;
  for (int64_t j = 0; j < c.resnets_per_level(); ++j) {
    h = VaeResnet(h, tensors, "block." + std::to_string(j), groups);
  }
  if (level != 0) h = VaeUpsample(h, tensors, "upsample");
  return h;
}

torch::Tensor VaeDecoder::Run(const torch::Tensor& z, WeightProvider& provider,
                              torch::ScalarType compute_dtype) const {
  torch::Tensor x = z;
  for (std::size_t i = 0; i < weights_.blocks.size(); ++i) {
    ScopedBlock block(provider, weights_.blocks[i]);
    if (i == 0) {
      // Activations follow the weights onto the compute device.
      x = x.to(block.tensors()["conv_in.weight"].device(), compute_dtype);
    }
    x = RunBlock(i, x, block.tensors());
  }
  return x.to(torch::kFloat);
}

torch::Tensor VaeDecoder::Decode(const torch::Tensor& latent, WeightProvider& provider,
                                 torch::ScalarType compute_dtype) const {
  ValidateInputs(latent, compute_dtype);
  return Run(Unscale(latent), provider, compute_dtype).clamp_(-1.0, 1.0);
}

torch::Tensor VaeDecoder::DecodeTiled(const torch::Tensor& latent, WeightProvider& provider,
                                      torch::ScalarType compute_dtype, TileOptions tiles) const {
  ValidateInputs(latent, compute_dtype);
  ValidateTileOptions(tiles);
  const int64_t height = latent.size(2), width = latent.size(3);
  if (height <= tiles.tile_latent && width <= tiles.tile_latent) {
    return Decode(latent, provider, compute_dtype);
  }
  const int64_t factor = config().upsample_factor();
  const int64_t tile = tiles.tile_latent, overlap = tiles.overlap_latent;
  const std::vector<int64_t> rows = TileStarts(height, tile, overlap);
  const std::vector<int64_t> cols = TileStarts(width, tile, overlap);
  const std::vector<torch::Tensor> row_weights =
      TileBlendWeights(rows, height, tile, overlap, factor);
  const std::vector<torch::Tensor> col_weights =
      TileBlendWeights(cols, width, tile, overlap, factor);

  const torch::Tensor z = Unscale(latent);
  torch::Tensor image;  // created on the compute device by the first tile
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const int64_t tile_h = std::min(tile, height - rows[r]);
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const int64_t tile_w = std::min(tile, width - cols[c]);
      const torch::Tensor decoded =
          Run(z.narrow(2, rows[r], tile_h).narrow(3, cols[c], tile_w), provider, compute_dtype);
      if (!image.defined()) {
        image = torch::zeros({latent.size(0), decoded.size(1), height * factor, width * factor},
                             decoded.options());
      }
      // The blend weights are separable: weight(y, x) = row(y) * col(x).
      const torch::Tensor weight =
          row_weights[r].narrow(0, rows[r] * factor, tile_h * factor).unsqueeze(1) *
          col_weights[c].narrow(0, cols[c] * factor, tile_w * factor).unsqueeze(0);
      image.narrow(2, rows[r] * factor, tile_h * factor)
          .narrow(3, cols[c] * factor, tile_w * factor)
          .add_(decoded * weight.to(decoded.device()));
    }
  }
  return image.clamp_(-1.0, 1.0);
}

}  // namespace streamdit::engine
