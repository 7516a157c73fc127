#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/sampling/noise.h"
#include "tests/unit/engine/sampling_python_reference.h"

namespace streamdit::engine {
namespace {

struct NoiseCase {
  int64_t batch, height, width;
  uint64_t seed;
};

// Bitwise equality with torch.randn(..., dtype=bf16, generator=Generator("cpu").manual_seed(s))
// as BFL get_noise draws it, for square, non-multiple-of-16, batched and 64-bit seeds.
TEST(SamplingNoise, MatchesBflGetNoiseBitwise) {
  const std::vector<NoiseCase> cases = {{1, 64, 64, 0},     {1, 64, 64, 42},
                                        {1, 200, 120, 42},  {2, 200, 120, 7},
                                        {2, 48, 32, 12345}, {1, 64, 80, (1ull << 40) + 7},
                                        {1, 17, 33, 42}};
  testing::ScratchDir scratch;
  std::string args = "noise " + scratch.File("");
  for (const NoiseCase& c : cases) {
    args += " " + std::to_string(c.batch) + "," + std::to_string(c.height) + "," +
            std::to_string(c.width) + "," + std::to_string(c.seed);
  }
  testing::RunReference(args);

  for (size_t i = 0; i < cases.size(); ++i) {
    const NoiseCase& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i));
    const at::Tensor noise = FluxNoise(c.batch, c.height, c.width, c.seed);
    const int64_t rows = 2 * ((c.height + 15) / 16);
    const int64_t cols = 2 * ((c.width + 15) / 16);
    ASSERT_EQ(noise.scalar_type(), at::kBFloat16);
    ASSERT_EQ(noise.sizes(), (std::vector<int64_t>{c.batch, 16, rows, cols}));
    const at::Tensor expected_bits = testing::ReadRaw(
        scratch.File("noise_" + std::to_string(i) + ".bin"), noise.sizes(), at::kShort);
    EXPECT_TRUE(at::equal(noise.contiguous().view(at::kShort), expected_bits));
  }
}

TEST(SamplingNoise, SameSeedSameNoiseDifferentSeedDifferentNoise) {
  const at::Tensor a = FluxNoise(1, 128, 128, 42);
  EXPECT_TRUE(at::equal(a, FluxNoise(1, 128, 128, 42)));
  EXPECT_FALSE(at::equal(a, FluxNoise(1, 128, 128, 43)));
  // PyTorch's CPU generator keeps only the low 32 bits of the seed (BFL inherits this).
  EXPECT_TRUE(at::equal(FluxNoise(1, 64, 64, (1ull << 40) + 7), FluxNoise(1, 64, 64, 7)));
  // Standard normal: mean ≈ 0, std ≈ 1 over 16·16·16 = 4096 samples (loose 5-sigma bounds).
  const at::Tensor f = a.to(at::kDouble);
  EXPECT_NEAR(f.mean().item<double>(), 0.0, 5.0 / 64.0);
  EXPECT_NEAR(f.std().item<double>(), 1.0, 0.12);
}

TEST(SamplingNoise, RejectsNonPositiveSizes) {
  EXPECT_THROW(FluxNoise(0, 64, 64, 1), std::invalid_argument);
  EXPECT_THROW(FluxNoise(1, 0, 64, 1), std::invalid_argument);
  EXPECT_THROW(FluxNoise(1, 64, -16, 1), std::invalid_argument);
}

}  // namespace
}  // namespace streamdit::engine
