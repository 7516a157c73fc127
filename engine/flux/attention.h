// Multi-head attention without a materialized L x L score matrix for the whole sequence. A fused
// kernel runs where one does (AttentionKernelFor): PyTorch's flash attention for float32 on the
// CPU (at least twice as fast as chunks of matmul + softmax on FLUX's shapes), scaled dot product
// attention on other devices; otherwise queries are processed in chunks so that the activation
// peak grows linearly with the token count.
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

enum class AttentionKernel {
  kChunked,    // score chunks of at most max_score_bytes, float32 softmax
  kFusedCpu,   // at::_scaled_dot_product_flash_attention_for_cpu (float32 only)
  kFusedSdpa,  // at::scaled_dot_product_attention on a device (its own kernel choice)
};

// The kernel ChunkedAttention runs for queries of `dtype` on `device` with `head_dim`: the one
// choice that the forward and the activation models share. 16-bit compute on the CPU stays chunked
// (the flash kernel's 16-bit path packs keys and values on some CPUs, which no model here counts).
AttentionKernel AttentionKernelFor(const AttentionOptions& options, c10::DeviceType device,
                                   torch::ScalarType dtype, int64_t head_dim);

// What the fused CPU kernel allocates beside its output (laid out as q is): the float32
// log-sum-exp [B, Lq, H] and one float32 work buffer per thread for `threads` threads (a block of
// queries against a block of keys, the block's row statistics and its output accumulator).
int64_t FusedCpuAttentionScratchBytes(int64_t batch, int64_t heads, int64_t q_len, int64_t kv_len,
                                      int64_t head_dim, int64_t threads);

// q, k, v: [B, H, L, D]. Returns [B, H, Lq, D] in q's dtype. Softmax statistics in float32.
torch::Tensor ChunkedAttention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const AttentionOptions& options = {});

// The number of query rows per chunk that ChunkedAttention uses.
int64_t AttentionChunkRows(int64_t batch, int64_t heads, int64_t q_len, int64_t k_len,
                           int64_t element_bytes, const AttentionOptions& options);

}  // namespace streamdit::engine
