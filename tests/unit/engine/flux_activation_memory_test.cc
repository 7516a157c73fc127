// The FLUX activation model against the counting allocator: for several widths, token counts,
// batches and attention kernels (fused on the CPU in float32, chunked at several chunk sizes), the
// predicted bytes of one forward pass (and of the modulation pass) are never below what the pass
// measurably allocates, and at most 15% above it.
#include "engine/flux/flux_activation_memory.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "engine/flux/flux_transformer.h"
#include "engine/memory/cpu_kernel_scratch.h"
#include "engine/memory/scoped_peak.h"
#include "engine/streaming/host_tensor.h"
#include "host_flux_weights.h"

namespace streamdit::engine {
namespace {

FluxConfig Config(int64_t hidden, int64_t heads, int64_t depth, int64_t single) {
  FluxConfig c;
  c.in_channels = 64;
  c.out_channels = 64;
  c.vec_in_dim = 64;
  c.context_in_dim = 96;
  c.hidden_size = hidden;
  c.num_heads = heads;
  c.head_dim = hidden / heads;
  c.mlp_hidden = 4 * hidden;
  c.depth = depth;
  c.depth_single_blocks = single;
  const int64_t d = c.head_dim;
  c.axes_dim = {d / 4, 3 * d / 8, 3 * d / 8};
  return c;
}

// Weights in the host tier in the compute dtype: the provider hands out views, so everything the
// meter counts during a pass is activations.
FluxTransformer HostModel(const FluxConfig& config, torch::ScalarType dtype) {
  return FluxTransformer(config, testing_support::RandomHostFluxWeights(config, dtype, 7));
}

struct Case {
  int64_t hidden, heads, depth, single, batch, img, txt, score_bytes;
  torch::ScalarType compute = torch::kFloat;
  // false: chunked attention even where the fused CPU kernel would run (float32).
  bool allow_fused = true;
};

class FluxActivationMemoryTest : public ::testing::TestWithParam<Case> {};

TEST_P(FluxActivationMemoryTest, PredictionCoversTheMeasuredPeakWithin15Percent) {
  const Case k = GetParam();
  const FluxConfig config = Config(k.hidden, k.heads, k.depth, k.single);
  const FluxTransformer model = HostModel(config, k.compute);
  const torch::ScalarType compute = k.compute;
  torch::NoGradGuard no_grad;
  DirectWeightProvider provider(compute, torch::kCPU);
  torch::manual_seed(8);
  FluxInputs in;
  in.img = torch::randn({k.batch, k.img, config.in_channels}).to(compute);
  in.img_ids = torch::randint(0, 32, {k.batch, k.img, 3}).to(torch::kFloat);
  in.txt = torch::randn({k.batch, k.txt, config.context_in_dim}).to(compute);
  in.txt_ids = torch::zeros({k.batch, k.txt, 3});
  const int64_t rows = 3 * k.batch;  // three steps' modulation
  const torch::Tensor t = torch::rand({rows});
  const torch::Tensor y = torch::randn({rows, config.vec_in_dim});
  const torch::Tensor g = torch::full({rows}, 3.5f);

  ScopedPeak modulation_peak;
  const FluxModulation mod =
      model.ComputeModulation(model.ComputeVec(t, y, g, provider, compute), provider);
  const int64_t modulation_measured = modulation_peak.peak_above_start_bytes();
  const int64_t modulation_held = modulation_peak.current_above_start_bytes();
  EXPECT_NEAR(modulation_held, FluxModulationBytes(config, rows, compute), 4096);
  const int64_t modulation_predicted = FluxModulationPassBytes(config, rows, compute);
  EXPECT_GE(modulation_predicted, modulation_measured);
  EXPECT_LE(modulation_predicted,
            modulation_measured * 1.15 + 16 * 1024 +
                CpuMatmulScratchBytes(compute, FluxModulationLinearExtent(config, rows)));

  AttentionOptions attention;
  attention.max_score_bytes = k.score_bytes;
  attention.allow_fused = k.allow_fused;
  ScopedPeak forward_peak;
  const torch::Tensor out =
      model.ForwardWithModulation(in, mod.Rows(0, k.batch), provider, compute, attention);
  const int64_t measured = forward_peak.peak_above_start_bytes();
  FluxActivationShape shape;
  shape.batch = k.batch;
  shape.img_tokens = k.img;
  shape.txt_tokens = k.txt;
  shape.attention = attention;
  shape.compute = compute;
  const int64_t predicted = FluxForwardActivationBytes(config, shape);
  const bool fused = AttentionKernelFor(attention, c10::DeviceType::CPU, compute,
                                        config.head_dim) == AttentionKernel::kFusedCpu;
  EXPECT_EQ(fused, k.allow_fused && compute == torch::kFloat);
  std::printf("hidden %lld batch %lld img %lld txt %lld %s: predicted %lld measured %lld (%.3f)\n",
              (long long)k.hidden, (long long)k.batch, (long long)k.img, (long long)k.txt,
              fused ? "fused" : "chunked", (long long)predicted, (long long)measured,
              double(predicted) / double(measured));
  EXPECT_GE(predicted, measured);
  // Slack for the oneDNN matmul scratch bound (its measured size varies with the shape:
  // engine/memory/cpu_kernel_scratch.h).
  EXPECT_LE(predicted, measured * 1.15 + 32 * 1024 +
                           CpuMatmulScratchBytes(compute, FluxForwardLinearExtent(
                                                              config, k.batch * (k.img + k.txt))));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, FluxActivationMemoryTest,
    ::testing::Values(
        Case{128, 4, 2, 3, 1, 24, 8, 64 << 20}, Case{128, 4, 2, 3, 2, 256, 64, 1 << 20},
        Case{256, 4, 1, 2, 1, 1024, 128, 64 << 20}, Case{256, 4, 1, 2, 1, 1024, 128, 2 << 20},
        Case{384, 6, 1, 1, 2, 512, 96, 64 << 20}, Case{384, 6, 0, 2, 1, 300, 40, 64 << 20},
        Case{384, 6, 2, 0, 1, 300, 40, 64 << 20},
        Case{256, 4, 1, 2, 1, 1024, 128, 64 << 20, torch::kBFloat16},
        Case{384, 6, 1, 1, 2, 512, 96, 2 << 20, torch::kBFloat16},
        // The chunked kernel in float32 too (the fused one is the default there).
        Case{128, 4, 2, 3, 2, 256, 64, 1 << 20, torch::kFloat, false},
        Case{256, 4, 1, 2, 1, 1024, 128, 2 << 20, torch::kFloat, false},
        Case{384, 6, 1, 1, 2, 512, 96, 64 << 20, torch::kFloat, false}));

}  // namespace
}  // namespace streamdit::engine
