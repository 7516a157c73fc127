#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampling/noise.h"
#include "engine/status/status_error.h"
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

// A batch's noise is each seed's one-image noise, whatever shares the batch: image i of a request
// with seed s is the one-image request with seed s + i.
TEST(SamplingNoise, NoiseForSeedsDrawsEveryImageFromItsOwnSeed) {
  const std::vector<uint64_t> seeds = {42, 7, 43, (1ull << 40) + 7};
  const at::Tensor noise = FluxNoiseForSeeds(seeds, 200, 120);
  ASSERT_EQ(noise.scalar_type(), at::kBFloat16);
  ASSERT_EQ(noise.sizes(), (std::vector<int64_t>{4, 16, 26, 16}));
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    EXPECT_TRUE(at::equal(noise.slice(0, i, i + 1), FluxNoise(1, 200, 120, seeds[i]))) << i;
  }
  EXPECT_TRUE(at::equal(FluxNoiseForSeeds({42}, 64, 64), FluxNoise(1, 64, 64, 42)));
  // Not BFL's batched draw, whose rows continue one stream.
  EXPECT_FALSE(at::equal(FluxNoiseForSeeds({42, 43}, 64, 64), FluxNoise(2, 64, 64, 42)));
}

void ExpectInvalid(const std::function<void()>& call, const std::string& message) {
  try {
    call();
    FAIL() << "expected INVALID_ARGUMENT: " << message;
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(error.what()), message);
  }
}

TEST(SamplingNoise, RejectsNonPositiveSizes) {
  ExpectInvalid([] { FluxNoise(0, 64, 64, 1); }, "batch must be at least 1, got 0");
  ExpectInvalid([] { FluxNoise(1, 0, 64, 1); }, "height must be at least 1, got 0");
  ExpectInvalid([] { FluxNoise(1, 64, -16, 1); }, "width must be at least 1, got -16");
  ExpectInvalid([] { FluxNoiseForSeeds({}, 64, 64); }, "batch must be at least 1, got 0");
}

}  // namespace
}  // namespace streamdit::engine
