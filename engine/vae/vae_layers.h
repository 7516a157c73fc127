// The VAE decoder's layers (BFL modules/autoencoder.py) as functions of activations [B, C, H, W]
// in the compute dtype and one block's tensors, addressed by BFL-style names under `prefix`.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "engine/model/weight_block.h"

namespace streamdit::engine {

// GroupNorm (eps 1e-6, affine), optionally followed by swish. Half-precision inputs are
// normalised in float32 and cast back after the swish, as autocast does (group_norm is on its
// float32 list), so that the statistics never lose precision.
torch::Tensor VaeGroupNorm(const torch::Tensor& x, const BlockTensors& tensors,
                           const std::string& prefix, int64_t groups, bool swish);

// conv `prefix`.weight / .bias with "same" padding (kernel 3 -> pad 1, kernel 1 -> pad 0).
torch::Tensor VaeConv(const torch::Tensor& x, const BlockTensors& tensors,
                      const std::string& prefix);

// ResnetBlock: x' = shortcut(x) + conv2(swish(norm2(conv1(swish(norm1(x)))))).
torch::Tensor VaeResnet(const torch::Tensor& x, const BlockTensors& tensors,
                        const std::string& prefix, int64_t groups);

// AttnBlock: single-head attention over all H*W positions with scale 1/sqrt(C), q/k/v/proj_out
// held as [C, C]. Queries are processed `query_chunk` at a time, so the score matrix held at once
// is query_chunk x HW: memory linear in positions, not quadratic.
torch::Tensor VaeAttention(const torch::Tensor& x, const BlockTensors& tensors,
                           const std::string& prefix, int64_t groups, int64_t query_chunk);

// Upsample: nearest x2, then conv3x3 `prefix`.conv.
torch::Tensor VaeUpsample(const torch::Tensor& x, const BlockTensors& tensors,
                          const std::string& prefix);

}  // namespace streamdit::engine
