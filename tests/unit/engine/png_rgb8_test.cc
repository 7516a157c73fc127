// Decoded image -> 8-bit RGB, BFL's truncating conversion, against hand-computed values.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "engine/image/rgb8.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

TEST(PngRgb8Test, TruncatesLikeBfl) {
  // One row of 9 pixels; red carries the values under test, green and blue fixed markers.
  const std::vector<float> values = {-1.0f, 1.0f, 0.0f, -0.5f, 0.5f, -0.25f, 0.999f, 1.5f, -2.0f};
  // (x + 1) * 127.5 truncated, after clamping to [-1, 1]:
  //   -1 -> 0, 1 -> 255, 0 -> 127.5 -> 127, -0.5 -> 63.75 -> 63, 0.5 -> 191.25 -> 191,
  //   -0.25 -> 95.625 -> 95, 0.999 -> 254.87 -> 254, 1.5 -> 255, -2 -> 0.
  // (diffusers' rounding would give 128, 64, 96 and 255 for 0, -0.5, -0.25 and 0.999.)
  const std::vector<uint8_t> expected_red = {0, 255, 127, 63, 191, 95, 254, 255, 0};
  torch::Tensor image = torch::zeros({3, 1, 9});
  image[0][0] = torch::tensor(values);
  image[1].fill_(-1.0);
  image[2].fill_(1.0);
  const std::vector<uint8_t> rgb = ImageToRgb8(image);
  ASSERT_EQ(rgb.size(), 27u);
  for (int x = 0; x < 9; ++x) {
    EXPECT_EQ(rgb[x * 3 + 0], expected_red[x]) << "x = " << values[x];
    EXPECT_EQ(rgb[x * 3 + 1], 0);
    EXPECT_EQ(rgb[x * 3 + 2], 255);
  }
}

TEST(PngRgb8Test, InterleavesRowMajor) {
  // [3, 2, 2] planes -> rows of RGB triples.
  torch::Tensor image = torch::empty({3, 2, 2});
  image[0] = torch::tensor({{-1.0f, 1.0f}, {0.0f, 0.5f}});
  image[1] = torch::tensor({{1.0f, -1.0f}, {-0.5f, 0.0f}});
  image[2] = torch::tensor({{0.0f, 0.0f}, {1.0f, -1.0f}});
  const std::vector<uint8_t> expected = {0, 255, 127, 255, 0, 127, 127, 63, 255, 191, 127, 0};
  EXPECT_EQ(ImageToRgb8(image), expected);
  EXPECT_EQ(ImageToRgb8(image.to(torch::kBFloat16)), expected);  // exact values in bf16 too
}

TEST(PngRgb8Test, NanBecomesBlackAndBadShapesThrow) {
  torch::Tensor image = torch::full({3, 1, 1}, std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(ImageToRgb8(image), (std::vector<uint8_t>{0, 0, 0}));
  EXPECT_INVALID_ARGUMENT(ImageToRgb8(torch::zeros({1, 3, 2, 2})));
  EXPECT_INVALID_ARGUMENT(ImageToRgb8(torch::zeros({4, 2, 2})));
  EXPECT_INVALID_ARGUMENT(ImageToRgb8(torch::zeros({3, 2, 2}, torch::kLong)));
}

}  // namespace
}  // namespace streamdit::engine
