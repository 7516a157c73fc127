// fp8 host-tier storage: the matmul weights of the converted blocks take one byte per element
// (half of bf16) in memory outside the device meter, everything else is left bit for bit, the
// per-tensor scale keeps the e4m3 rounding error within the format's bound for any magnitude
// (never NaN), and a FLUX forward on converted weights stays close to the bf16 one, streamed or
// not.

#include "engine/streaming/host_storage.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>

#include "engine/flux/flux_transformer.h"
#include "engine/memory/scoped_peak.h"
#include "engine/streaming/host_tensor.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"
#include "host_flux_weights.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

using testing_support::RandomHostFluxWeights;
FluxConfig SmallConfig() { return testing_support::SmallStreamingFluxConfig(); }
FluxWeights HostWeights(const FluxConfig& config, torch::ScalarType storage) {
  return RandomHostFluxWeights(config, storage, 11);
}

FluxInputs Inputs(const FluxConfig& c) { return testing_support::RandomFluxInputs(c, 12); }

StoredTensor Host(const torch::Tensor& value) {
  StoredTensor t;
  t.data = CopyToHost(value);
  t.dtype = FromScalarType(value.scalar_type());
  return t;
}

// A block holding one matrix, converted; returns the fp8 tensor.
StoredTensor ConvertOne(const torch::Tensor& value) {
  WeightBlock block;
  block.name = "one";
  block.Add("linear.weight", Host(value));
  ConvertBlocksToFp8({&block});
  EXPECT_EQ(block.tensors[0].second.dtype, DType::kF8E4M3);
  return block.tensors[0].second;
}

// e4m3 keeps 3 mantissa bits: rounding to nearest errs by at most 2^-4 of the value in the normal
// range, and by half the subnormal step 2^-9 (in units of the scale) below 2^-6.
void ExpectWithinE4M3Bound(const torch::Tensor& original, const StoredTensor& fp8) {
  const torch::Tensor x = original.to(torch::kDouble);
  const torch::Tensor decoded = Materialize(fp8, torch::kFloat, torch::kCPU).to(torch::kDouble);
  const torch::Tensor bound =
      x.abs() * (std::ldexp(1.0, -4) + 1e-6) + std::ldexp(1.0, -10) * fp8.scale;
  const torch::Tensor excess = (decoded - x).abs() - bound;
  EXPECT_LE(excess.max().item<double>(), 0.0)
      << "worst element " << x.flatten()[excess.flatten().argmax()].item<double>() << " decoded as "
      << decoded.flatten()[excess.flatten().argmax()].item<double>();
}

TEST(HostStorageTest, ParsesAndNamesTheStorageSettings) {
  EXPECT_EQ(ParseWeightStorage("fp8"), WeightStorage::kFp8);
  EXPECT_EQ(ParseWeightStorage("bf16"), WeightStorage::kAsStored);
  EXPECT_EQ(ParseWeightStorage("as-stored"), WeightStorage::kAsStored);
  for (WeightStorage s : {WeightStorage::kFp8, WeightStorage::kAsStored}) {
    EXPECT_EQ(ParseWeightStorage(WeightStorageName(s)), s);
  }
  try {
    ParseWeightStorage("fp4");
    FAIL() << "expected INVALID_ARGUMENT";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), absl::StatusCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("fp4"), std::string::npos) << e.what();
  }
}

TEST(HostStorageTest, SelectsMatmulWeightsOnly) {
  const StoredTensor matrix = Host(torch::randn({8, 4}).to(torch::kBFloat16));
  const StoredTensor vector = Host(torch::randn({8}).to(torch::kBFloat16));
  EXPECT_TRUE(StoredAsFp8("img_attn.qkv.weight", matrix));
  EXPECT_TRUE(StoredAsFp8("linear1.weight", Host(torch::randn({8, 4}))));
  EXPECT_FALSE(StoredAsFp8("img_attn.qkv.bias", vector));
  EXPECT_FALSE(StoredAsFp8("norm.query_norm.scale", vector));
  EXPECT_FALSE(StoredAsFp8("layer_norm.weight", vector));  // 1-D weight: a norm, not a matmul
  EXPECT_FALSE(StoredAsFp8("token_embedding.weight", matrix));
  EXPECT_FALSE(StoredAsFp8("shared.weight", matrix));
  EXPECT_FALSE(StoredAsFp8("ids.weight", Host(torch::ones({8, 4}, torch::kLong))));
}

TEST(HostStorageTest, ConvertedBlocksHoldMatmulWeightsInOneByteAndLeaveTheRestBitwise) {
  const FluxConfig c = SmallConfig();
  FluxWeights weights = HostWeights(c, torch::kBFloat16);
  // Everything that must stay: data pointer and a copy of the bytes.
  std::map<std::string, std::pair<const void*, torch::Tensor>> kept;
  for (const WeightBlock* block : weights.AllBlocks()) {
    for (const auto& [name, t] : block->tensors) {
      if (t.data.dim() != 2 || block == &weights.vec_embedders ||
          block == &weights.input_embedders) {
        kept[block->name + "/" + name] = {t.data.data_ptr(), t.data.clone()};
      }
    }
  }
  const int64_t before_vec = weights.vec_embedders.nbytes();
  const int64_t before_input = weights.input_embedders.nbytes();

  const int64_t saved = ConvertBlocksToFp8(Fp8EligibleBlocks(weights));

  // Element counts from the FLUX architecture (flux-spec.md §1), split into matmul weights
  // (1 byte in fp8) and biases/norm scales (2 bytes, bf16 kept).
  const int64_t h = c.hidden_size, m = c.mlp_hidden, d = c.head_dim, o = c.out_channels;
  const int64_t double_matrices = 2 * (3 * h * h + h * h + m * h + h * m);
  const int64_t double_vectors = 2 * (3 * h + 2 * d + h + m + h);
  const int64_t double_mod_matrices = 2 * (6 * h * h), double_mod_vectors = 2 * (6 * h);
  const int64_t single_matrices = (3 * h + m) * h + h * (h + m);
  const int64_t single_vectors = (3 * h + m) + h + 2 * d;
  const int64_t single_mod_matrices = 3 * h * h, single_mod_vectors = 3 * h;
  for (int i = 0; i < c.depth; ++i) {
    EXPECT_EQ(weights.double_blocks[i].nbytes(), double_matrices + 2 * double_vectors);
    EXPECT_EQ(weights.double_modulation[i].nbytes(), double_mod_matrices + 2 * double_mod_vectors);
  }
  for (int i = 0; i < c.depth_single_blocks; ++i) {
    EXPECT_EQ(weights.single_blocks[i].nbytes(), single_matrices + 2 * single_vectors);
    EXPECT_EQ(weights.single_modulation[i].nbytes(), single_mod_matrices + 2 * single_mod_vectors);
  }
  EXPECT_EQ(weights.final_layer.nbytes(), o * h + 2 * o);
  EXPECT_EQ(weights.final_modulation.nbytes(), 2 * h * h + 2 * 2 * h);
  EXPECT_EQ(weights.vec_embedders.nbytes(), before_vec);
  EXPECT_EQ(weights.input_embedders.nbytes(), before_input);
  // bf16 -> fp8 saves one byte per matmul weight element: the weights' bytes halve.
  const int64_t matrices = c.depth * (double_matrices + double_mod_matrices) +
                           c.depth_single_blocks * (single_matrices + single_mod_matrices) + o * h +
                           2 * h * h;
  EXPECT_EQ(saved, matrices);

  for (const WeightBlock* block : weights.AllBlocks()) {
    for (const auto& [name, t] : block->tensors) {
      auto it = kept.find(block->name + "/" + name);
      if (it == kept.end()) {
        EXPECT_EQ(t.dtype, DType::kF8E4M3) << block->name << "/" << name;
        continue;
      }
      EXPECT_EQ(t.dtype, DType::kBF16) << it->first;
      EXPECT_EQ(t.data.data_ptr(), it->second.first) << it->first << " was replaced";
      EXPECT_TRUE(torch::equal(t.data, it->second.second)) << it->first;
    }
  }
  // Converting again changes nothing: fp8 tensors are kept as they are.
  const int64_t fp8_bytes = weights.nbytes();
  EXPECT_EQ(ConvertBlocksToFp8(Fp8EligibleBlocks(weights)), 0);
  EXPECT_EQ(weights.nbytes(), fp8_bytes);
}

TEST(HostStorageTest, RoundingErrorStaysWithinTheE4M3Bound) {
  torch::manual_seed(13);
  // Typical weights, plus a spread of magnitudes that reaches the fp8 subnormals after scaling.
  const torch::Tensor weights = (0.02 * torch::randn({64, 96})).to(torch::kBFloat16);
  const torch::Tensor spread =
      (torch::randn({32, 32}) * torch::pow(10.0, torch::rand({32, 32}) * 8 - 6));
  for (const torch::Tensor& value : {weights, spread, weights.to(torch::kHalf)}) {
    const StoredTensor fp8 = ConvertOne(value);
    ExpectWithinE4M3Bound(value, fp8);
    // The largest magnitude uses the top code: scale = max / 448.
    const double max = value.to(torch::kDouble).abs().max().item<double>();
    EXPECT_NEAR(fp8.scale, max / 448, 1e-6 * max / 448);
  }
}

TEST(HostStorageTest, LargeAndInfiniteValuesSaturateWithoutNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float huge = 3e38f;
  // Beyond +-448 (where unscaled e4m3 would saturate) and up to the float limit.
  const torch::Tensor wide = torch::linspace(-5000, 5000, 77).reshape({7, 11});
  ExpectWithinE4M3Bound(wide, ConvertOne(wide));
  const torch::Tensor big = torch::tensor({{-huge, 1e30f}, {7e37f, huge}});
  ExpectWithinE4M3Bound(big, ConvertOne(big));
  const torch::Tensor big_bf16 = big.to(torch::kBFloat16);
  ExpectWithinE4M3Bound(big_bf16, ConvertOne(big_bf16));

  // Infinities saturate to the largest finite value (the scale comes from the finite ones).
  const torch::Tensor with_inf = torch::tensor({{inf, -inf, 2.0f}, {-1.0f, 0.0f, 1e-3f}});
  const StoredTensor fp8 = ConvertOne(with_inf);
  const torch::Tensor decoded = Materialize(fp8, torch::kFloat, torch::kCPU);
  EXPECT_FALSE(decoded.isnan().any().item<bool>());
  EXPECT_FLOAT_EQ(decoded[0][0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(decoded[0][1].item<float>(), -2.0f);
  ExpectWithinE4M3Bound(with_inf.narrow(0, 1, 1), [&] {
    StoredTensor row = fp8;
    row.data = fp8.data.narrow(0, 1, 1);
    return row;
  }());

  // Only infinities, only zeros, or magnitudes so small that max / 448 underflows: still finite.
  for (const torch::Tensor& value :
       {torch::tensor({{inf, -inf}}), torch::zeros({2, 3}), torch::tensor({{1e-44f, 0.0f}})}) {
    const torch::Tensor out = Materialize(ConvertOne(value), torch::kFloat, torch::kCPU);
    EXPECT_FALSE(out.isnan().any().item<bool>()) << value;
    EXPECT_TRUE(out.isfinite().all().item<bool>()) << value;
  }
  EXPECT_TRUE(
      torch::equal(Materialize(ConvertOne(torch::zeros({2, 3})), torch::kFloat, torch::kCPU),
                   torch::zeros({2, 3})));
}

TEST(HostStorageTest, ConvertedTensorsLiveOutsideTheDeviceMeter) {
  FluxConfig c = SmallConfig();
  c.hidden_size = 256;
  c.mlp_hidden = 1024;
  c.num_heads = 8;
  FluxWeights weights = HostWeights(c, torch::kBFloat16);
  ScopedPeak peak;
  const int64_t saved = ConvertBlocksToFp8(Fp8EligibleBlocks(weights));
  // The fp8 copies (as many bytes as saved) are host-tier; nothing counted was made on the way,
  // not even a transient float32 copy of one tensor.
  EXPECT_GT(saved, 4 << 20);
  EXPECT_LT(peak.peak_above_start_bytes(), 64 << 10);
  EXPECT_LE(peak.current_above_start_bytes(), 0);

  // Converting a counted tensor leaves only the host copy too.
  torch::Tensor counted = torch::randn({512, 1024}).to(torch::kBFloat16);
  peak.Reset();
  StoredTensor fp8 = ToStorage(counted, DType::kF8E4M3);
  StoredTensor bf16 = ToStorage(counted.to(torch::kFloat), DType::kBF16);
  EXPECT_EQ(fp8.nbytes(), 512 * 1024);
  EXPECT_EQ(bf16.nbytes(), 2 * 512 * 1024);
  // The only counted bytes are the explicit float32 argument above.
  EXPECT_LE(peak.peak_above_start_bytes(), 4 * 512 * 1024 + (64 << 10));
  EXPECT_LE(peak.current_above_start_bytes(), 0);
}

TEST(HostStorageTest, ForwardOnFp8WeightsIsCloseToBf16AndStreamsTheFp8Bytes) {
  const FluxConfig c = SmallConfig();
  FluxTransformer model(c, HostWeights(c, torch::kBFloat16));
  const FluxInputs inputs = Inputs(c);
  DirectWeightProvider direct(torch::kFloat, torch::kCPU);
  const torch::Tensor bf16 = model.Forward(inputs, direct, torch::kFloat);
  ConvertBlocksToFp8(Fp8EligibleBlocks(model.mutable_weights()));
  const torch::Tensor fp8 = model.Forward(inputs, direct, torch::kFloat);

  ASSERT_TRUE(fp8.isfinite().all().item<bool>());
  // Each weight errs by at most 2^-4 of its value; the errors of independent weights partly
  // cancel in every dot product, so the output's relative error stays below that per-weight bound.
  const double relative = ((fp8 - bf16).norm() / bf16.norm()).item<double>();
  EXPECT_GT(relative, 0.0) << "the weights did not change";
  EXPECT_LT(relative, 0.0625);

  // Streaming the fp8 weights one block at a time reproduces the direct run bitwise and copies
  // the fp8 bytes.
  const std::vector<const WeightBlock*> order = model.weights().ForwardOrder();
  StreamingOptions options;
  const std::vector<PlannedBlock> blocks = DescribeBlocks(order, {}, torch::kFloat, torch::kCPU);
  const ResidencyPlan plan = PlanResidency(blocks, MinimumWeightBytes(blocks, options), options);
  StreamingWeightProvider provider(plan, options, ExecutionTarget::Cpu());
  provider.SetOrder(order, /*passes=*/0);
  EXPECT_TRUE(torch::equal(model.Forward(inputs, provider, torch::kFloat), fp8));
  const int64_t after_first = provider.streamed_bytes();
  EXPECT_TRUE(torch::equal(model.Forward(inputs, provider, torch::kFloat), fp8));
  int64_t fp8_streamed = 0;
  for (const PlannedBlock& b : plan.blocks) fp8_streamed += b.resident ? 0 : b.block->nbytes();
  EXPECT_EQ(provider.streamed_bytes() - after_first, fp8_streamed);
}

}  // namespace
}  // namespace streamdit::engine
