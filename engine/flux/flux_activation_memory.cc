#include "engine/flux/flux_activation_memory.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <initializer_list>

#include "engine/memory/cpu_kernel_scratch.h"

namespace streamdit::engine {
namespace {

int64_t Max(std::initializer_list<int64_t> values) { return std::max(values); }

// Per-token byte sizes of the tensors the forward makes, and the temporaries of its helpers
// (flux_layers.cc), each including the helper's output.
struct TokenBytes {
  int64_t hidden;  // one hidden-wide tensor in the compute dtype
  int64_t mlp;     // one mlp-wide tensor in the compute dtype
  int64_t rms;     // RmsNorm of a hidden-wide tensor: its temporaries at their worst + output
  int64_t rope;    // ApplyRope of a hidden-wide tensor: the same
  int64_t rope_out;

  TokenBytes(const FluxConfig& c, torch::ScalarType compute) {
    const int64_t e = static_cast<int64_t>(c10::elementSize(compute));
    const int64_t wide = c.hidden_size * 4;  // float32 statistics and rotations
    hidden = c.hidden_size * e;
    mlp = c.mlp_hidden * e;
    if (compute == torch::kFloat) {
      // RmsNorm: x * rrms, then * scale (the squares die first). ApplyRope: both rotated halves
      // and their stack.
      rms = 2 * hidden;
      rope = 2 * wide;
    } else {
      // Plus the float32 copy of the input and the cast back.
      rms = 2 * wide + 2 * hidden;
      rope = 3 * wide + hidden;
    }
    rope_out = hidden;
  }
};

bool FusedCpuAttention(const FluxConfig& c, const FluxActivationShape& s) {
  return AttentionKernelFor(s.attention, s.device, s.compute, c.head_dim) ==
         AttentionKernel::kFusedCpu;
}

// Attention's memory beside q, k and its output, for `tokens` queries and keys. The fused CPU
// kernel: its log-sum-exp and per-thread buffers. Chunked attention (and, conservatively, a
// device's fused kernel, whose own scratch the plan adds): the score chunk and softmax (float32;
// 16-bit compute adds the matmul's own output), and one chunk's result.
int64_t AttentionBytes(const FluxConfig& c, const FluxActivationShape& s, int64_t tokens) {
  if (FusedCpuAttention(c, s)) {
    return FusedCpuAttentionScratchBytes(s.batch, c.num_heads, tokens, tokens, c.head_dim,
                                         at::get_num_threads());
  }
  const int64_t e = static_cast<int64_t>(c10::elementSize(s.compute));
  const int64_t rows = AttentionChunkRows(s.batch, c.num_heads, tokens, tokens, e, s.attention);
  const int64_t per_score = s.compute == torch::kFloat ? 8 : 8 + e;
  return s.batch * c.num_heads * rows * (tokens * per_score + c.head_dim * e);
}

int64_t DoubleBlockPeak(const FluxConfig& c, const FluxActivationShape& s, const TokenBytes& t) {
  const int64_t b = s.batch;
  const int64_t li = b * s.img_tokens, lt = b * s.txt_tokens, l = li + lt;
  const int64_t h = t.hidden, m = t.mlp;
  // Each stream's q/k/v: the modulated input, qkv, then q and k through RmsNorm; it keeps q, k and
  // qkv (v is a view of it).
  auto qkv_peak = [&](int64_t n) { return n * Max({4 * h, 4 * h + t.rms, 5 * h + t.rms}); };
  const int64_t streams = l * h;
  const int64_t projections = 5 * l * h;
  const int64_t cats = 3 * l * h;
  const int64_t attention = Max({
      streams + qkv_peak(li), streams + 5 * li * h + qkv_peak(lt),
      streams + projections + cats + l * t.rope,                 // rotating q
      streams + projections + cats + l * (t.rope_out + t.rope),  // rotating k
      streams + projections + cats + 3 * l * h + AttentionBytes(c, s, s.img_tokens + s.txt_tokens),
      streams + projections + cats + 4 * l * h,  // merging heads
  });
  // Residual + MLP of one stream, with the other stream and the attention output alive.
  auto finish = [&](int64_t n) { return 2 * l * h + n * Max({4 * h, 3 * h + 2 * m}); };
  return std::max(attention, std::max(finish(li), finish(lt)));
}

int64_t SingleBlockPeak(const FluxConfig& c, const FluxActivationShape& s, const TokenBytes& t) {
  const int64_t l = s.batch * (s.img_tokens + s.txt_tokens);
  const int64_t h = t.hidden, m = t.mlp;
  const int64_t linear1 = 3 * h + m;
  const int64_t after_qk = h + linear1 + 2 * h;  // x, linear1's output, q, k
  // at::matmul copies v (a strided view of linear1's output) when the batch exceeds one; the
  // fused CPU kernel reads it in place.
  const int64_t v_copy = s.batch > 1 && !FusedCpuAttention(c, s) ? l * h : 0;
  return Max({
      l * 4 * h,                             // modulating x
      l * (2 * h + linear1),                 // linear1
      l * (h + linear1 + h + t.rms),         // RmsNorm of k
      l * (after_qk + t.rope),               // rotating q
      l * (after_qk + t.rope_out + t.rope),  // rotating k
      l * (after_qk + 3 * h) + AttentionBytes(c, s, s.img_tokens + s.txt_tokens) + v_copy,
      l * (after_qk + 4 * h),         // merging heads
      l * (h + linear1 + h + m),      // GELU beside linear1's output
      l * (h + h + m + (h + m) + h),  // concatenation and linear2
  });
}

}  // namespace

LinearExtent FluxForwardLinearExtent(const FluxConfig& config, int64_t rows) {
  const int64_t h = config.hidden_size, m = config.mlp_hidden;
  // linear2 reduces the joined attention and MLP (h + m); linear1 outputs qkv and the MLP.
  return {rows, std::max({h + m, config.context_in_dim, config.in_channels}),
          std::max({3 * h + m, m, config.out_channels})};
}

LinearExtent FluxModulationLinearExtent(const FluxConfig& config, int64_t rows) {
  const int64_t h = config.hidden_size;
  return {rows, std::max({int64_t{256}, config.vec_in_dim, h}), 6 * h};
}

int64_t FluxForwardActivationBytes(const FluxConfig& config, const FluxActivationShape& shape) {
  const TokenBytes t(config, shape.compute);
  const int64_t e = static_cast<int64_t>(c10::elementSize(shape.compute));
  const int64_t b = shape.batch;
  const int64_t tokens = b * (shape.img_tokens + shape.txt_tokens);
  // RoPE cos and sin tables (float32, head_dim / 2 each) live through the whole pass; while they
  // are built, float64 positions, angles, cos and sin.
  const int64_t rope_tables = tokens * config.head_dim * 4;
  const int64_t rope_build = tokens * (config.head_dim / 2) * 8 * 3 + tokens * 3 * 8;
  const int64_t output = b * shape.img_tokens * config.out_channels * e;
  int64_t peak = rope_tables + rope_build;  // the embedded streams are smaller than the blocks
  if (config.depth > 0) peak = std::max(peak, rope_tables + DoubleBlockPeak(config, shape, t));
  // Joining the streams for the single blocks.
  peak = std::max(peak, rope_tables + 2 * tokens * t.hidden);
  if (config.depth_single_blocks > 0) {
    peak = std::max(peak, rope_tables + SingleBlockPeak(config, shape, t));
  }
  // The final layer modulates the image tokens beside the joined stream.
  peak = std::max(peak,
                  rope_tables + tokens * t.hidden + b * shape.img_tokens * 3 * t.hidden + output);
  // Norm statistics, RmsNorm's per-head factors and one-element tensors the model above leaves out;
  // the scratch of a oneDNN matmul where one runs (cpu_kernel_scratch.h).
  const int64_t small = 16 * 1024 + tokens * config.num_heads * 4 * 2;
  return peak + small +
         CpuMatmulScratchBytes(shape.compute, FluxForwardLinearExtent(config, tokens));
}

int64_t FluxModulationBytes(const FluxConfig& config, int64_t rows, torch::ScalarType compute) {
  const int64_t e = static_cast<int64_t>(c10::elementSize(compute));
  const int64_t chunks = 12 * config.depth + 3 * config.depth_single_blocks + 2;
  return rows * chunks * config.hidden_size * e;
}

int64_t FluxModulationPassBytes(const FluxConfig& config, int64_t rows, torch::ScalarType compute) {
  const int64_t e = static_cast<int64_t>(c10::elementSize(compute));
  // ComputeVec: 256-wide sinusoidal embeddings (float64 on the way), each MLP's hidden layer and
  // activation, the sums; then silu(vec) beside every block's modulation output.
  const int64_t embedding = rows * 256 * 8 * 2;
  const int64_t vec = rows * config.hidden_size * e * 3;
  return FluxModulationBytes(config, rows, compute) + embedding + vec +
         CpuMatmulScratchBytes(compute, FluxModulationLinearExtent(config, rows));
}

}  // namespace streamdit::engine
