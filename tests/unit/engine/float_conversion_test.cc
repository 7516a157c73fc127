// The fast widening of stored weights computes libtorch's own bits: every bfloat16 and every
// float16 value (all 65536 bit patterns each, infinities, NaNs and subnormals included), in
// tensors large enough to be split over threads, and Materialize uses it.
#include "engine/tensor/float_conversion.h"

#include <gtest/gtest.h>

#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {
namespace {

// Every 16-bit pattern, repeated so that the tensor spans several parallel tasks, viewed as `type`.
torch::Tensor EveryPattern(torch::ScalarType type, int repeats) {
  torch::Tensor patterns = torch::arange(0, 65536, torch::kInt).to(torch::kShort);
  return patterns.repeat({repeats}).view(type).contiguous();
}

void ExpectSameBits(const torch::Tensor& source) {
  ASSERT_TRUE(CanWidenToFloat32(source));
  const torch::Tensor fast = WidenToFloat32(source);
  const torch::Tensor reference = source.to(torch::kFloat);
  ASSERT_EQ(fast.sizes(), reference.sizes());
  ASSERT_EQ(fast.scalar_type(), torch::kFloat);
  // Bits, not values: NaN payloads and signed zeros must match too.
  EXPECT_TRUE(torch::equal(fast.view(torch::kInt), reference.view(torch::kInt)));
}

TEST(FloatConversion, BFloat16WidensToTheSameBitsAsLibtorch) {
  ExpectSameBits(EveryPattern(torch::kBFloat16, 5));
}

TEST(FloatConversion, Float16WidensToTheSameBitsAsLibtorch) {
  const torch::Tensor halves = EveryPattern(torch::kHalf, 5);
  if (!CanWidenToFloat32(halves)) GTEST_SKIP() << "this CPU has no F16C";
  // NaN payloads: F16C quiets signaling NaNs, as libtorch's conversion does; compare values
  // where either is NaN by NaN-ness.
  const torch::Tensor fast = WidenToFloat32(halves);
  const torch::Tensor reference = halves.to(torch::kFloat);
  const torch::Tensor both_nan = fast.isnan() & reference.isnan();
  EXPECT_TRUE(torch::equal(fast.isnan(), reference.isnan()));
  EXPECT_TRUE(torch::equal(fast.masked_fill(both_nan, 0).view(torch::kInt),
                           reference.masked_fill(both_nan, 0).view(torch::kInt)));
}

TEST(FloatConversion, OddLengthsAndShapesAreKept) {
  const torch::Tensor source = torch::randn({3, 7, 5}).to(torch::kBFloat16);
  ExpectSameBits(source);
  const torch::Tensor halves = torch::randn({13}).to(torch::kHalf);
  if (CanWidenToFloat32(halves)) {
    EXPECT_TRUE(torch::equal(WidenToFloat32(halves), halves.to(torch::kFloat)));
  }
}

TEST(FloatConversion, OnlyContiguousHalfWidthCpuTensorsTakeTheFastPath) {
  EXPECT_FALSE(CanWidenToFloat32(torch::randn({4, 4}).to(torch::kBFloat16).t()));
  EXPECT_FALSE(CanWidenToFloat32(torch::randn({4})));
  EXPECT_FALSE(CanWidenToFloat32(torch::Tensor()));
}

TEST(FloatConversion, MaterializeWidensStoredBFloat16Weights) {
  StoredTensor stored;
  stored.dtype = DType::kBF16;
  stored.data = torch::randn({64, 33}).to(torch::kBFloat16);
  const torch::Tensor weights = Materialize(stored, torch::kFloat, torch::kCPU);
  EXPECT_TRUE(torch::equal(weights, stored.data.to(torch::kFloat)));
  EXPECT_NE(weights.data_ptr(), stored.data.data_ptr());
}

}  // namespace
}  // namespace streamdit::engine
