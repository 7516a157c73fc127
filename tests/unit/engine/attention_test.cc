// FLUX's attention (engine/flux/attention.h): which kernel runs, that the fused CPU kernel and the
// chunked one both compute softmax(q kᵀ / √d) v as a float64 reference does, and that the fused
// kernel's memory beside its output stays within FusedCpuAttentionScratchBytes.
#include "engine/flux/attention.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include "engine/memory/scoped_peak.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kBatch = 2, kHeads = 3, kTokens = 300, kHeadDim = 64;

torch::Tensor Reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        double scale) {
  const torch::Tensor qd = q.to(torch::kDouble), kd = k.to(torch::kDouble);
  const torch::Tensor scores = at::matmul(qd, kd.transpose(-2, -1)) * scale;
  return at::matmul(at::softmax(scores, -1), v.to(torch::kDouble));
}

double RelativeError(const torch::Tensor& actual, const torch::Tensor& expected) {
  return (actual.to(torch::kDouble) - expected).abs().max().item<double>() /
         expected.abs().max().item<double>();
}

struct Inputs {
  torch::Tensor q, k, v;
};

Inputs RandomInputs(torch::ScalarType dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto make = [&] { return torch::randn({kBatch, kHeads, kTokens, kHeadDim}).to(dtype); };
  Inputs in;
  in.q = make();
  in.k = make();
  in.v = make();
  return in;
}

TEST(AttentionKernel, FusedOnTheCpuForFloat32OnlyAndNeverWithBiasOrMask) {
  const AttentionOptions plain;
  const auto cpu = c10::DeviceType::CPU, cuda = c10::DeviceType::CUDA;
  EXPECT_EQ(AttentionKernelFor(plain, cpu, torch::kFloat, 128), AttentionKernel::kFusedCpu);
  EXPECT_EQ(AttentionKernelFor(plain, cpu, torch::kBFloat16, 128), AttentionKernel::kChunked);
  EXPECT_EQ(AttentionKernelFor(plain, cuda, torch::kBFloat16, 128), AttentionKernel::kFusedSdpa);
  AttentionOptions scaled;
  scaled.scale = 0.5;  // the fused CPU kernel takes any scale; SDPA here only the default
  EXPECT_EQ(AttentionKernelFor(scaled, cpu, torch::kFloat, 128), AttentionKernel::kFusedCpu);
  EXPECT_EQ(AttentionKernelFor(scaled, cuda, torch::kFloat, 128), AttentionKernel::kChunked);
  AttentionOptions no_fused;
  no_fused.allow_fused = false;
  AttentionOptions causal;
  causal.causal = true;
  AttentionOptions bias;
  bias.bias = torch::zeros({1, 1, 1, 4});
  for (const AttentionOptions& options : {no_fused, causal, bias}) {
    EXPECT_EQ(AttentionKernelFor(options, cpu, torch::kFloat, 128), AttentionKernel::kChunked);
    EXPECT_EQ(AttentionKernelFor(options, cuda, torch::kFloat, 128), AttentionKernel::kChunked);
  }
}

TEST(AttentionKernel, FusedAndChunkedMatchTheFloat64Reference) {
  const Inputs in = RandomInputs(torch::kFloat, 5);
  AttentionOptions chunked;
  chunked.allow_fused = false;
  chunked.max_score_bytes = kBatch * kHeads * 7 * kTokens * 4;  // 7 rows per chunk, a remainder
  for (const double scale : {0.0, 0.07}) {
    AttentionOptions fused;
    fused.scale = scale;
    chunked.scale = scale;
    const double used = scale > 0 ? scale : 1.0 / std::sqrt(double(kHeadDim));
    const torch::Tensor expected = Reference(in.q, in.k, in.v, used);
    const torch::Tensor a = ChunkedAttention(in.q, in.k, in.v, fused);
    const torch::Tensor b = ChunkedAttention(in.q, in.k, in.v, chunked);
    ASSERT_EQ(a.sizes(), in.q.sizes());
    ASSERT_EQ(b.sizes(), in.q.sizes());
    EXPECT_EQ(a.scalar_type(), torch::kFloat);
    EXPECT_LE(RelativeError(a, expected), 1e-5) << "fused, scale " << scale;
    EXPECT_LE(RelativeError(b, expected), 1e-5) << "chunked, scale " << scale;
  }
  // bf16 stays chunked and close (8 mantissa bits).
  const Inputs half = RandomInputs(torch::kBFloat16, 6);
  const torch::Tensor c = ChunkedAttention(half.q, half.k, half.v);
  EXPECT_EQ(c.scalar_type(), torch::kBFloat16);
  EXPECT_LE(RelativeError(c, Reference(half.q, half.k, half.v, 1.0 / 8)), 2e-2);
}

TEST(AttentionKernel, FusedCpuScratchStaysWithinItsStatedBytes) {
  const Inputs in = RandomInputs(torch::kFloat, 8);
  const int64_t output = in.q.numel() * 4;
  for (const int threads : {1, 2}) {
    const int before = at::get_num_threads();
    at::set_num_threads(threads);
    int64_t measured = 0;
    {
      ScopedPeak peak;
      const torch::Tensor out = ChunkedAttention(in.q, in.k, in.v);
      measured = peak.peak_above_start_bytes();
    }
    at::set_num_threads(before);
    const int64_t stated =
        FusedCpuAttentionScratchBytes(kBatch, kHeads, kTokens, kTokens, kHeadDim, threads);
    std::printf("%d thread(s): measured %lld beside the %lld-byte output, stated %lld\n", threads,
                static_cast<long long>(measured - output), static_cast<long long>(output),
                static_cast<long long>(stated));
    EXPECT_GE(measured, output) << "the output is allocated inside the window";
    EXPECT_LE(measured - output, stated);
    // The stated bytes follow the kernel's blocking, not a loose bound.
    EXPECT_GE(measured - output, stated * 9 / 10);
  }
}

}  // namespace
}  // namespace streamdit::engine
