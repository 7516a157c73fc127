#include "engine/tensor/float_conversion.h"

#include <ATen/Parallel.h>
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kGrain = 1 << 16;  // elements per task: large enough to amortize a thread

void WidenBFloat16(const uint16_t* in, float* out, int64_t begin, int64_t end) {
  // The compiler vectorizes this loop (shift and store, no branches).
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t bits = static_cast<uint32_t>(in[i]) << 16;
    std::memcpy(out + i, &bits, sizeof(bits));
  }
}

__attribute__((target("avx,f16c"))) void WidenFloat16(const uint16_t* in, float* out, int64_t begin,
                                                      int64_t end) {
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(halves));
  }
  for (; i < end; ++i) out[i] = _cvtsh_ss(in[i]);
}

bool HasF16c() {
  static const bool supported = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
  return supported;
}

}  // namespace

bool CanWidenToFloat32(const torch::Tensor& source) {
  if (!source.defined() || !source.device().is_cpu() || !source.is_contiguous()) return false;
  if (source.scalar_type() == torch::kBFloat16) return true;
  return source.scalar_type() == torch::kHalf && HasF16c();
}

torch::Tensor WidenToFloat32(const torch::Tensor& source) {
  if (!CanWidenToFloat32(source)) {
    throw Internal("WidenToFloat32: no fast path for this tensor");
  }
  torch::Tensor out = torch::empty(source.sizes(), torch::TensorOptions().dtype(torch::kFloat));
  const auto* in = static_cast<const uint16_t*>(source.data_ptr());
  float* dst = out.data_ptr<float>();
  const bool bfloat16 = source.scalar_type() == torch::kBFloat16;
  at::parallel_for(0, source.numel(), kGrain, [&](int64_t begin, int64_t end) {
    if (bfloat16) {
      WidenBFloat16(in, dst, begin, end);
    } else {
      WidenFloat16(in, dst, begin, end);
    }
  });
  return out;
}

}  // namespace streamdit::engine
