#include "engine/text/text_encoder_activation_memory.h"

#include <algorithm>
#include <initializer_list>

#include "engine/memory/cpu_kernel_scratch.h"

namespace streamdit::engine {
namespace {

int64_t Max(std::initializer_list<int64_t> values) { return std::max(values); }

int64_t ElementBytes(torch::ScalarType type) {
  return static_cast<int64_t>(c10::elementSize(type));
}

// Matches T5Encoder::Forward's automatic chunk: about 4M score elements per chunk.
constexpr int64_t kT5ScoreElementsPerChunk = int64_t{1} << 22;

}  // namespace

int64_t T5ActivationBytes(const T5EncoderConfig& c, int64_t batch, int64_t tokens,
                          torch::ScalarType compute) {
  const int64_t e = ElementBytes(compute);
  const int64_t wide = compute == torch::kFloat || compute == torch::kDouble ? 0 : 1;
  const int64_t rows = batch * tokens;
  const int64_t d = rows * c.d_model * e;
  const int64_t d_float = rows * c.d_model * 4;
  const int64_t inner = rows * c.inner_dim() * e;
  const int64_t ff = rows * c.d_ff * e;
  // RmsNorm: the float32 copy and the cast back (16-bit compute only), then x * rrms and the
  // scaled result.
  const int64_t norm = wide * (d_float + d) + d_float + d;
  // One chunk of queries: the position bias gathered for it (no batch), the scores with the bias
  // added beside the bare product, the softmax, and the chunk's context.
  const int64_t chunk = std::min(
      tokens, std::max<int64_t>(1, kT5ScoreElementsPerChunk / (batch * c.num_heads * tokens)));
  const int64_t scores = batch * c.num_heads * chunk * tokens * std::max<int64_t>(e, 4);
  const int64_t bias = chunk * tokens * c.num_heads * e;
  const int64_t chunk_work = bias + 2 * scores + batch * c.num_heads * chunk * c.d_kv * e;
  // Position buckets [L, L] (int64) and the cloned bias table live through the pass.
  // 16-bit compute also holds one more hidden-sized tensor at the worst point (measured with the
  // counting allocator; not placed in the stages below).
  const int64_t fixed = tokens * tokens * 8 + c.num_buckets * c.num_heads * e + wide * d;
  const int64_t layer = Max({
      d + norm,                                // normalizing
      d + d + 3 * inner + inner + chunk_work,  // a chunk, with the earlier chunks' contexts
      d + d + 3 * inner + 3 * inner + d,       // contexts joined, heads merged, projected
      4 * d,                                   // the residual sum
      d + d + 2 * ff,                          // wi_0 and its GELU
      d + d + 3 * ff + d,                      // gate * wi_1, then wo
  });
  // Norm statistics (per row) and scalar tensors; a oneDNN matmul's scratch (cpu_kernel_scratch.h).
  const int64_t small = 32 * 1024 + rows * 4 * 4;
  const int64_t widest = Max({c.d_model, c.d_ff, c.inner_dim()});
  return fixed + layer + small + CpuMatmulScratchBytes(compute, {rows, widest, widest});
}

int64_t ClipActivationBytes(const ClipTextConfig& c, int64_t batch, int64_t tokens,
                            torch::ScalarType compute) {
  const int64_t e = ElementBytes(compute);
  const int64_t h = batch * tokens * c.hidden * e;
  const int64_t h_float = batch * tokens * c.hidden * 4;
  const int64_t mlp = batch * tokens * c.intermediate * e;
  const int64_t scores = batch * c.hidden / ClipTextEncoder::kHeadDim * tokens * tokens * 4;
  const int64_t mask = tokens * tokens * 4;
  // EncoderLayer keeps q, k, v, the scores, probabilities and attended values alive to its end.
  const int64_t attention = h + h_float + 3 * h;
  const int64_t layer = Max({
      attention + 3 * scores,                                  // q k^T, scaled, masked
      attention + 2 * scores + 2 * h,                          // softmax, attended, merged heads
      attention + 2 * scores + 2 * h + 2 * h,                  // out_proj and the residual
      attention + 2 * scores + 3 * h + h_float + 4 * mlp,      // fc1 and QuickGELU's three products
      attention + 2 * scores + 3 * h + h_float + mlp + 2 * h,  // fc2 and the residual
  });
  // The token + position embedding, the causal mask, the final norm and the pooled rows.
  const int64_t widest = std::max(c.hidden, c.intermediate);
  return mask + layer + h + batch * c.hidden * e +
         CpuMatmulScratchBytes(compute, {batch * tokens, widest, widest});
}

}  // namespace streamdit::engine
