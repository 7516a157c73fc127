// Multi-head attention without a materialized L x L score matrix for the whole sequence: queries
// are processed in chunks so the activation peak grows linearly with the token count. Where the
// libtorch version has a fused kernel (scaled_dot_product_attention, torch >= 2.0) it is used.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace streamdit::engine {

struct AttentionOptions {
  // Upper bound on the bytes of one chunk's score matrix (B x H x chunk x L elements).
  int64_t max_score_bytes = 64ll << 20;
  // Pre-softmax scale; <= 0 means 1/sqrt(head_dim).
  double scale = 0;
  // Additive bias broadcastable to [B, H, Lq, Lk] (e.g. T5 relative positions), or undefined.
  torch::Tensor bias;
  // Causal mask (CLIP): key j is visible to query i only when j <= i.
  bool causal = false;
  // Allow the fused kernel when available (it is never used with bias or causal masks).
  bool allow_fused = true;
};

// q, k, v: [B, H, L, D]. Returns [B, H, Lq, D] in q's dtype. Softmax statistics in float32.
torch::Tensor ChunkedAttention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const AttentionOptions& options = {});

// The number of query rows per chunk that ChunkedAttention uses.
int64_t AttentionChunkRows(int64_t batch, int64_t heads, int64_t q_len, int64_t k_len,
                           int64_t element_bytes, const AttentionOptions& options);

}  // namespace streamdit::engine
