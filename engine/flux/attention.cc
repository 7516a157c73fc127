#include "engine/flux/attention.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>
#include <vector>

namespace streamdit::engine {

int64_t AttentionChunkRows(int64_t batch, int64_t heads, int64_t q_len, int64_t k_len,
                           int64_t element_bytes, const AttentionOptions& options) {
  // Scores are computed in float32 for the softmax, whatever the compute dtype.
  const int64_t bytes_per_row = batch * heads * k_len * std::max<int64_t>(element_bytes, 4);
  const int64_t rows =
      std::max<int64_t>(1, options.max_score_bytes / std::max<int64_t>(1, bytes_per_row));
  return std::min(rows, q_len);
}

AttentionKernel AttentionKernelFor(const AttentionOptions& options, c10::DeviceType device,
                                   torch::ScalarType dtype, int64_t head_dim) {
  if (!options.allow_fused || options.bias.defined() || options.causal) {
    return AttentionKernel::kChunked;
  }
  if (device == c10::DeviceType::CPU) {
    return dtype == torch::kFloat ? AttentionKernel::kFusedCpu : AttentionKernel::kChunked;
  }
  const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(double(head_dim));
  return std::abs(scale - 1.0 / std::sqrt(double(head_dim))) < 1e-12 ? AttentionKernel::kFusedSdpa
                                                                     : AttentionKernel::kChunked;
}

int64_t FusedCpuAttentionScratchBytes(int64_t batch, int64_t heads, int64_t q_len, int64_t kv_len,
                                      int64_t head_dim, int64_t threads) {
  // The kernel's blocking (aten/src/ATen/native/transformers/attention.cpp, torch 2.x): query
  // blocks of 256 rows from 768 queries on, 64 from 192, else 32; key blocks of 512.
  const int64_t q_block = std::min<int64_t>(q_len, q_len >= 768 ? 256 : q_len >= 192 ? 64 : 32);
  const int64_t kv_block = std::min<int64_t>(kv_len, 512);
  const int64_t per_thread = q_block * kv_block + 2 * q_block + q_block * head_dim;
  const int64_t log_sum_exp = batch * q_len * heads;
  // Plus a few small allocations of its own (under 1 KiB measured).
  return 4 * (log_sum_exp + std::max<int64_t>(1, threads) * per_thread) + 1024;
}

torch::Tensor ChunkedAttention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const AttentionOptions& options) {
  const int64_t head_dim = q.size(-1);
  const double scale = options.scale > 0 ? options.scale : 1.0 / std::sqrt(double(head_dim));
  switch (AttentionKernelFor(options, q.device().type(), q.scalar_type(), head_dim)) {
    case AttentionKernel::kFusedCpu:
      return std::get<0>(at::_scaled_dot_product_flash_attention_for_cpu(
          q, k, v, /*dropout_p=*/0.0, /*is_causal=*/false, /*attn_mask=*/std::nullopt, scale));
    case AttentionKernel::kFusedSdpa:
      return at::scaled_dot_product_attention(q, k, v);
    case AttentionKernel::kChunked:
      break;
  }
  const int64_t q_len = q.size(2);
  const int64_t k_len = k.size(2);
  const int64_t rows =
      AttentionChunkRows(q.size(0), q.size(1), q_len, k_len, q.element_size(), options);
  torch::Tensor k_t = k.transpose(-2, -1);
  torch::Tensor out = torch::empty_like(q);
  for (int64_t start = 0; start < q_len; start += rows) {
    const int64_t stop = std::min(q_len, start + rows);
    torch::Tensor q_chunk = q.slice(2, start, stop);
    torch::Tensor scores = at::matmul(q_chunk, k_t).to(torch::kFloat).mul_(scale);
    if (options.bias.defined()) {
      torch::Tensor bias = options.bias;
      if (bias.size(-2) != 1) bias = bias.slice(-2, start, stop);
      scores.add_(bias.to(torch::kFloat));
    }
    if (options.causal) {
      // Row r (query start + r) may see keys 0..start + r.
      const auto longs = torch::TensorOptions().dtype(torch::kLong).device(scores.device());
      torch::Tensor query_pos = torch::arange(start, stop, longs).unsqueeze(1);
      torch::Tensor key_pos = torch::arange(k_len, longs).unsqueeze(0);
      scores.masked_fill_(key_pos.gt(query_pos), -std::numeric_limits<float>::infinity());
    }
    torch::Tensor probs = at::softmax(scores, -1).to(v.scalar_type());
    out.slice(2, start, stop).copy_(at::matmul(probs, v));
  }
  return out;
}

}  // namespace streamdit::engine
