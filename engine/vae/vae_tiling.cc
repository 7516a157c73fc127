#include "engine/vae/vae_tiling.h"

#include <algorithm>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {

void ValidateTileOptions(const TileOptions& options) {
  if (options.tile_latent < 1) {
    throw InvalidArgument("tile_latent must be >= 1, got " + std::to_string(options.tile_latent));
  }
  if (options.overlap_latent < 0 || options.overlap_latent >= options.tile_latent) {
    throw InvalidArgument(
        "overlap_latent must be in [0, tile_latent = " + std::to_string(options.tile_latent) +
        "), got " + std::to_string(options.overlap_latent));
  }
}

std::vector<int64_t> TileStarts(int64_t length, int64_t tile, int64_t overlap) {
  ValidateTileOptions({tile, overlap});
  if (length <= tile) return {0};
  const int64_t stride = tile - overlap;
  // Fewest tiles n with (n - 1) * stride + tile >= length.
  const int64_t count = (length - overlap + stride - 1) / stride;
  const int64_t span = length - tile;  // start of the last tile
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < count; ++i) {
    // Rounded even spacing: consecutive starts differ by at most ceil(span / (count - 1)) <=
    // stride, so every overlap is at least `overlap`.
    starts.push_back((i * span + (count - 1) / 2) / (count - 1));
  }
  return starts;
}

std::vector<torch::Tensor> TileBlendWeights(const std::vector<int64_t>& starts, int64_t length,
                                            int64_t tile, int64_t overlap, int64_t factor) {
  const int64_t pixels = length * factor;
  const int64_t ramp = overlap * factor;
  std::vector<torch::Tensor> weights;
  torch::Tensor total = torch::zeros({pixels}, torch::kFloat);
  for (std::size_t t = 0; t < starts.size(); ++t) {
    const int64_t begin = starts[t] * factor;
    const int64_t extent = std::min(tile, length - starts[t]) * factor;
    torch::Tensor w = torch::zeros({pixels}, torch::kFloat);
    float* data = w.data_ptr<float>();
    for (int64_t p = 0; p < extent; ++p) {
      float value = 1.0f;
      // Pixel centres: the first ramp pixel weighs 0.5 / ramp, never 0, so every covered pixel
      // has a positive total weight.
      if (ramp > 0 && t > 0) value = std::min(value, (p + 0.5f) / ramp);
      if (ramp > 0 && t + 1 < starts.size()) value = std::min(value, (extent - p - 0.5f) / ramp);
      data[begin + p] = value;
    }
    total += w;
    weights.push_back(w);
  }
  for (torch::Tensor& w : weights) w.div_(total);
  return weights;
}

}  // namespace streamdit::engine
