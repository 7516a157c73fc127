#pragma once

#include <torch/types.h>

#include <cstdint>

namespace streamdit::engine {

// FLUX sees the 16-channel VAE latent as a sequence of 2×2 patches (BFL sampling.prepare/unpack,
// diffusers _pack_latents/_unpack_latents):
//   [B, 16, 2h, 2w] → [B, h·w, 64], token = row·w + col, feature = c·4 + ph·2 + pw.

// Packs a latent [B, 16, 2h, 2w] (any dtype/device) into tokens [B, h·w, 64] (contiguous).
// Throws StatusError INVALID_ARGUMENT unless the latent is 4-D with 16 channels and even
// height/width.
torch::Tensor PackLatent(const torch::Tensor& latent);

// Exact inverse of PackLatent for an image of `height`×`width` pixels: h = ceil(height/16),
// w = ceil(width/16) (as BFL unpack). Returns [B, 16, 2h, 2w] (contiguous).
// Throws StatusError INVALID_ARGUMENT if `tokens` is not [B, h·w, 64].
torch::Tensor UnpackLatent(const torch::Tensor& tokens, int64_t height, int64_t width);

// RoPE positions of the image tokens of an h×w token grid (h = ceil(H/16), w = ceil(W/16)):
// float32 [batch, h·w, 3] with axis 0 = 0 (the generated image), axis 1 = row, axis 2 = column.
torch::Tensor ImageIds(int64_t batch, int64_t rows, int64_t cols);

// RoPE positions of the text tokens: float32 zeros [batch, txt_len, 3] (identity rotation).
torch::Tensor TextIds(int64_t batch, int64_t txt_len);

}  // namespace streamdit::engine
