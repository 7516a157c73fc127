// The FLUX building blocks of flux-spec.md §1.2-§1.3 as functions of explicit weights.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace streamdit::engine {

// Sinusoidal embedding: t' = time_factor * t (rounded in t's dtype when that is bf16/f16, as BFL
// does), frequencies exp(-ln(max_period) * i / half), [cos | sin] formed in float64, cast to
// `out_dtype`.
torch::Tensor TimestepEmbedding(const torch::Tensor& t, int64_t dim, torch::ScalarType out_dtype,
                                double max_period = 10000, double time_factor = 1000);

// LayerNorm without affine parameters, eps 1e-6.
torch::Tensor PlainLayerNorm(const torch::Tensor& x);

// QK RMSNorm: float32 statistics, eps 1e-6, cast back, times the learnable scale.
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& scale);

// RoPE tables for ids [B, L, n_axes]: cos and sin [B, 1, L, head_dim/2] (float32), pairs of axis 0
// first. Angles are computed in float64 and rounded once.
struct RopeTables {
  torch::Tensor cos;
  torch::Tensor sin;
};
RopeTables RopeEmbed(const torch::Tensor& ids, const std::vector<int64_t>& axes_dim, double theta);

// Rotates adjacent (interleaved) pairs of x [B, H, L, D] in float32; returns x's dtype.
torch::Tensor ApplyRope(const torch::Tensor& x, const RopeTables& rope);

// GELU with the tanh approximation.
torch::Tensor GeluTanh(const torch::Tensor& x);

}  // namespace streamdit::engine
