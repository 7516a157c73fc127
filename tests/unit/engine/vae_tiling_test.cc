// Tile geometry and blend weights of tiled VAE decoding.

#include "engine/vae/vae_tiling.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

TEST(VaeTilingTest, OneTileWhenTheLatentFits) {
  EXPECT_EQ(TileStarts(64, 64, 8), std::vector<int64_t>{0});
  EXPECT_EQ(TileStarts(5, 64, 8), std::vector<int64_t>{0});
}

TEST(VaeTilingTest, FewestEvenlySpreadTilesWithAtLeastTheOverlap) {
  EXPECT_EQ(TileStarts(100, 64, 8), (std::vector<int64_t>{0, 36}));
  EXPECT_EQ(TileStarts(120, 64, 8), (std::vector<int64_t>{0, 56}));  // exactly overlap 8
  EXPECT_EQ(TileStarts(121, 64, 8), (std::vector<int64_t>{0, 29, 57}));
  EXPECT_EQ(TileStarts(24, 12, 4), (std::vector<int64_t>{0, 6, 12}));
  for (int64_t length = 1; length <= 300; ++length) {
    for (const auto& [tile, overlap] :
         std::vector<std::pair<int64_t, int64_t>>{{64, 8}, {12, 4}, {8, 3}, {5, 0}, {7, 6}}) {
      const std::vector<int64_t> starts = TileStarts(length, tile, overlap);
      ASSERT_EQ(starts.front(), 0);
      ASSERT_EQ(std::min(length, starts.back() + tile), length) << length;
      for (std::size_t i = 1; i < starts.size(); ++i) {
        ASSERT_GE(starts[i - 1] + tile - starts[i], overlap) << length << " " << tile;
        ASSERT_GT(starts[i], starts[i - 1]);
      }
      // Fewest tiles: one fewer could not cover the length with the required overlap.
      const int64_t n = static_cast<int64_t>(starts.size());
      if (n > 1) {
        ASSERT_LT((n - 2) * (tile - overlap) + tile, length);
      }
    }
  }
}

TEST(VaeTilingTest, BlendWeightsPartitionUnityAndRampLinearly) {
  const std::vector<int64_t> starts = TileStarts(24, 12, 4);  // {0, 6, 12}
  const std::vector<torch::Tensor> w = TileBlendWeights(starts, 24, 12, 4, /*factor=*/2);
  ASSERT_EQ(w.size(), 3u);
  torch::Tensor total = torch::zeros({48});
  for (const torch::Tensor& row : w) total += row;
  EXPECT_TRUE(torch::allclose(total, torch::ones({48}), 0, 1e-6));
  // Tile 0 covers pixels [0, 24): weight 1 until tile 1 starts ramping at pixel 12, zero past 24.
  EXPECT_FLOAT_EQ(w[0][0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[0][11].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[0][30].item<float>(), 0.0f);
  // Where exactly two ramps of 8 pixels cross (tiles 1 and 2 over [24, 32), tile 1's right
  // ramp ends at 36): tile 2's raw weight is (p + 0.5) / 8, tile 1's is 1 until its ramp.
  EXPECT_GT(w[2][24].item<float>(), 0.0f);
  EXPECT_LT(w[2][24].item<float>(), w[2][27].item<float>());
  EXPECT_FLOAT_EQ(w[2][47].item<float>(), 1.0f);
}

TEST(VaeTilingTest, TwoTilesWithExactOverlapCrossFadeLinearly) {
  // Length 20, tile 12, overlap 4: starts {0, 8}, the overlap [8, 12) is exactly one ramp.
  const std::vector<torch::Tensor> w = TileBlendWeights(TileStarts(20, 12, 4), 20, 12, 4, 1);
  for (int p = 8; p < 12; ++p) {
    EXPECT_NEAR(w[1][p].item<float>(), (p - 8 + 0.5) / 4, 1e-6) << p;
    EXPECT_NEAR(w[0][p].item<float>(), 1 - (p - 8 + 0.5) / 4, 1e-6) << p;
  }
}

TEST(VaeTilingTest, RejectsBadOptions) {
  EXPECT_INVALID_ARGUMENT(ValidateTileOptions({0, 0}));
  EXPECT_INVALID_ARGUMENT(ValidateTileOptions({8, 8}));
  EXPECT_INVALID_ARGUMENT(ValidateTileOptions({8, -1}));
  EXPECT_NO_THROW(ValidateTileOptions({8, 7}));
  EXPECT_NO_THROW(ValidateTileOptions({1, 0}));
}

}  // namespace
}  // namespace streamdit::engine
