#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

#include "engine/sampling/latent_packing.h"
#include "engine/sampling/noise.h"
#include "tests/support/status_testing.h"
#include "tests/unit/engine/sampling_python_reference.h"

namespace streamdit::engine {
namespace {

// 200×120 px is not a multiple of 16: 13×8 tokens, latent 26×16 (BFL rounds up).
TEST(SamplingPacking, RoundTripOfNoiseAtNonMultipleOf16Size) {
  const at::Tensor latent = FluxNoise(2, 200, 120, 3);
  const at::Tensor tokens = PackLatent(latent);
  EXPECT_EQ(tokens.sizes(), (std::vector<int64_t>{2, 13 * 8, 64}));
  EXPECT_EQ(tokens.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(UnpackLatent(tokens, 200, 120), latent));
}

// Element [b, c, 2r+ph, 2q+pw] goes to token r·w+q, feature c·4+ph·2+pw (flux-spec §2).
TEST(SamplingPacking, FeatureAndTokenIndexLayout) {
  const int64_t batch = 2, rows = 3, cols = 5;
  const at::Tensor latent =
      at::arange(batch * 16 * rows * 2 * cols * 2, at::TensorOptions().dtype(at::kLong))
          .reshape({batch, 16, rows * 2, cols * 2});
  const at::Tensor tokens = PackLatent(latent);
  const auto l = latent.accessor<int64_t, 4>();
  const auto t = tokens.accessor<int64_t, 3>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t q = 0; q < cols; ++q)
          for (int64_t ph = 0; ph < 2; ++ph)
            for (int64_t pw = 0; pw < 2; ++pw)
              ASSERT_EQ(t[b][r * cols + q][c * 4 + ph * 2 + pw], l[b][c][2 * r + ph][2 * q + pw]);
}

// Against numpy's reshape/transpose, both directions.
TEST(SamplingPacking, PackAndUnpackMatchNumpyReference) {
  const int64_t batch = 2, rows = 6, cols = 9;  // e.g. 96×144 px
  const at::Tensor latent = at::randn({batch, 16, rows * 2, cols * 2});
  const at::Tensor tokens = at::randn({batch, rows * cols, 64});
  testing::ScratchDir scratch;
  testing::WriteRaw(scratch.File("latent.bin"), latent);
  testing::WriteRaw(scratch.File("tokens.bin"), tokens);
  testing::RunReference("pack " + scratch.File("latent.bin") + " " + scratch.File("packed.bin") +
                        " 2 12 18");
  testing::RunReference("unpack " + scratch.File("tokens.bin") + " " +
                        scratch.File("unpacked.bin") + " 2 6 9");
  EXPECT_TRUE(at::equal(PackLatent(latent),
                        testing::ReadRaw(scratch.File("packed.bin"), {2, 54, 64}, at::kFloat)));
  EXPECT_TRUE(
      at::equal(UnpackLatent(tokens, 96, 144),
                testing::ReadRaw(scratch.File("unpacked.bin"), {2, 16, 12, 18}, at::kFloat)));
  // Any pixel size with the same ceil(·/16) grid unpacks the same way.
  EXPECT_TRUE(at::equal(UnpackLatent(tokens, 81, 129), UnpackLatent(tokens, 96, 144)));
}

TEST(SamplingPacking, RejectsWrongShapes) {
  EXPECT_INVALID_ARGUMENT(PackLatent(at::zeros({1, 16, 6, 7})));
  EXPECT_INVALID_ARGUMENT(PackLatent(at::zeros({1, 8, 6, 6})));
  EXPECT_INVALID_ARGUMENT(PackLatent(at::zeros({16, 6, 6})));
  EXPECT_INVALID_ARGUMENT(UnpackLatent(at::zeros({1, 12, 64}), 64, 64));  // needs 16
  EXPECT_INVALID_ARGUMENT(UnpackLatent(at::zeros({1, 16, 32}), 64, 64));
}

TEST(SamplingIds, ImageIdsAreZeroRowColumn) {
  const at::Tensor ids = ImageIds(2, 3, 5);
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{2, 15, 3}));
  ASSERT_EQ(ids.scalar_type(), at::kFloat);
  const auto a = ids.accessor<float, 3>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 5; ++c) {
        EXPECT_EQ(a[b][r * 5 + c][0], 0.0f);
        EXPECT_EQ(a[b][r * 5 + c][1], static_cast<float>(r));
        EXPECT_EQ(a[b][r * 5 + c][2], static_cast<float>(c));
      }
}

TEST(SamplingIds, TextIdsAreZeros) {
  const at::Tensor ids = TextIds(2, 7);
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{2, 7, 3}));
  ASSERT_EQ(ids.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(ids, at::zeros({2, 7, 3})));
}

}  // namespace
}  // namespace streamdit::engine
