// Tiled VAE decoding's geometry: where latent tiles start along one axis, and the per-pixel blend
// weights that cross-fade neighbouring tiles over their overlap.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace streamdit::engine {

struct TileOptions {
  int64_t tile_latent = 64;    // tile edge in latent pixels (64 -> 512 image pixels for FLUX)
  int64_t overlap_latent = 8;  // minimum overlap of neighbouring tiles, latent pixels
};

// Throws StatusError INVALID_ARGUMENT naming the field and its limit: tile_latent >= 1,
// 0 <= overlap_latent < tile_latent.
void ValidateTileOptions(const TileOptions& options);

// Starts of the tiles covering [0, length): one tile when length <= tile; otherwise the fewest
// tiles whose neighbours overlap by at least `overlap`, spread evenly (first at 0, last ending at
// length), so no tile is a thin sliver.
std::vector<int64_t> TileStarts(int64_t length, int64_t tile, int64_t overlap);

// Per-pixel blend weights along one image axis, one row per tile (tile t covers output pixels
// [starts[t] * factor, (starts[t] + extent_t) * factor)), normalised so that the weights of all
// tiles covering a pixel sum to 1. Each tile's raw weight ramps linearly from its edges over
// overlap * factor pixels on every side that has a neighbour and is 1 elsewhere; the ramps are
// symmetric so two tiles sharing exactly that overlap cross-fade linearly.
// Returns float32 [num_tiles][length * factor] (zero outside a tile).
std::vector<torch::Tensor> TileBlendWeights(const std::vector<int64_t>& starts, int64_t length,
                                            int64_t tile, int64_t overlap, int64_t factor);

}  // namespace streamdit::engine
