// The VAE decoder against an independent float64 NumPy reference, across storage dtypes, both
// checkpoint layouts, key prefixes, attention chunking and tiling.

#include "engine/vae/vae_decoder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "tests/support/status_testing.h"
#include "tests/unit/engine/vae_test_model.h"

namespace streamdit::engine {
namespace {

using vae_testing::MakeDecoderTensors;
using vae_testing::RelativeMaxError;
using vae_testing::RunReference;
using vae_testing::ScratchDir;
using vae_testing::TestLayout;
using vae_testing::TestVaeShape;
using vae_testing::WriteOptions;
using vae_testing::WriteVae;

// ch 32, ch_mult [1, 2, 2], one res block, z 16; GroupNorm groups 8 from the metadata (32 groups
// of one channel each would make every norm degenerate in a model this narrow).
WriteOptions SmallOptions() {
  WriteOptions options;
  options.metadata["vae_config"] = R"({"norm_groups": 8})";
  return options;
}

torch::Tensor RandomLatent(std::vector<int64_t> shape, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn(shape, torch::kFloat);
}

// A smooth latent: per channel a sum of low-frequency waves (periods of 12+ latent pixels), i.e.
// what a natural image's latent looks like at the tile scale.
torch::Tensor SmoothLatent(int64_t channels, int64_t height, int64_t width, uint64_t seed) {
  torch::manual_seed(seed);
  const torch::Tensor y = torch::arange(height, torch::kFloat).view({1, height, 1});
  const torch::Tensor x = torch::arange(width, torch::kFloat).view({1, 1, width});
  torch::Tensor latent = torch::zeros({channels, height, width});
  for (int wave = 0; wave < 3; ++wave) {
    const torch::Tensor fy = torch::rand({channels, 1, 1}) * (2 * M_PI / 12);
    const torch::Tensor fx = torch::rand({channels, 1, 1}) * (2 * M_PI / 12);
    const torch::Tensor phase = torch::rand({channels, 1, 1}) * (2 * M_PI);
    latent += torch::sin(fy * y + fx * x + phase) * 0.6;
  }
  return latent.unsqueeze(0);
}

// Fraction of pixels at the clamp limits: the comparisons are only meaningful if most outputs
// are inside (-1, 1).
double ClampedFraction(const torch::Tensor& image) {
  return (image.abs() >= 1.0).to(torch::kDouble).mean().item<double>();
}

struct Decoded {
  torch::Tensor ours;
  torch::Tensor reference;
};

Decoded DecodeBoth(const ScratchDir& dir, const WriteOptions& options, const TestVaeShape& shape,
                   const torch::Tensor& latent, VaeDecoderOptions decoder_options = {},
                   torch::ScalarType compute = torch::kFloat) {
  const std::string path = dir.File("vae.safetensors");
  WriteVae(path, MakeDecoderTensors(shape, /*seed=*/7), options);
  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(path), decoder_options);
  DirectWeightProvider provider(compute, torch::kCPU);
  return {decoder.Decode(latent, provider, compute),
          RunReference(dir, path, latent, "--prefix '" + options.prefix + "'")};
}

TEST(VaeDecoderTest, MatchesFloat64ReferenceWithF32Weights) {
  ScratchDir dir;
  const torch::Tensor latent = RandomLatent({2, 16, 6, 5}, 1);
  const Decoded d = DecodeBoth(dir, SmallOptions(), TestVaeShape{}, latent);
  ASSERT_EQ(d.ours.sizes(), (std::vector<int64_t>{2, 3, 24, 20}));
  EXPECT_EQ(d.ours.scalar_type(), torch::kFloat);
  const double error = RelativeMaxError(d.ours, d.reference);
  std::cout << "f32 weights, f32 compute: max abs err / max abs ref = " << error
            << ", clamped fraction " << ClampedFraction(d.reference) << "\n";
  EXPECT_LE(error, 1e-5);
  EXPECT_LT(ClampedFraction(d.reference), 0.2);
}

TEST(VaeDecoderTest, MatchesFloat64ReferenceWithBf16Weights) {
  ScratchDir dir;
  WriteOptions options = SmallOptions();
  options.dtype = DType::kBF16;
  const torch::Tensor latent = RandomLatent({1, 16, 7, 4}, 2);
  const Decoded d = DecodeBoth(dir, options, TestVaeShape{}, latent);
  const double error = RelativeMaxError(d.ours, d.reference);
  std::cout << "bf16 weights, f32 compute: max abs err / max abs ref = " << error << "\n";
  EXPECT_LE(error, 1e-5);
}

TEST(VaeDecoderTest, ChunkedAttentionMatchesReference) {
  // 7 queries per chunk over 6*5 = 30 positions: four full chunks and a remainder of two.
  ScratchDir dir;
  VaeDecoderOptions chunked;
  chunked.attention_query_chunk = 7;
  const torch::Tensor latent = RandomLatent({1, 16, 6, 5}, 3);
  const Decoded d = DecodeBoth(dir, SmallOptions(), TestVaeShape{}, latent, chunked);
  EXPECT_LE(RelativeMaxError(d.ours, d.reference), 1e-5);
}

TEST(VaeDecoderTest, Bf16ComputeStaysCloseToReference) {
  ScratchDir dir;
  WriteOptions options = SmallOptions();
  options.dtype = DType::kBF16;
  const torch::Tensor latent = RandomLatent({1, 16, 6, 6}, 4);
  const Decoded d =
      DecodeBoth(dir, options, TestVaeShape{}, latent, VaeDecoderOptions{}, torch::kBFloat16);
  const double error = RelativeMaxError(d.ours, d.reference);
  std::cout << "bf16 compute: max abs err / max abs ref = " << error << "\n";
  // bf16 keeps 8 significant bits (relative step 2^-8 = 0.4%); a dozen layers of rounding in
  // activations and conv accumulation stay within a few percent of the output range.
  EXPECT_LE(error, 5e-2);
}

TEST(VaeDecoderTest, DefaultThirtyTwoGroupsAndVaePrefixMatchReference) {
  // No vae_config metadata: GroupNorm uses 32 groups (ch 32, ch_mult [1, 2]); the file nests the
  // decoder under "vae." next to encoder tensors, as all-in-one checkpoints do.
  ScratchDir dir;
  WriteOptions options;
  options.prefix = "vae.";
  options.with_encoder_keys = true;
  TestVaeShape shape;
  shape.level_channels = {32, 64};
  const torch::Tensor latent = RandomLatent({1, 16, 5, 6}, 5);
  const Decoded d = DecodeBoth(dir, options, shape, latent);
  ASSERT_EQ(d.ours.sizes(), (std::vector<int64_t>{1, 3, 10, 12}));
  EXPECT_LE(RelativeMaxError(d.ours, d.reference), 1e-5);
}

TEST(VaeDecoderTest, BflAndDiffusersLayoutsDecodeIdentically) {
  ScratchDir dir;
  const std::vector<vae_testing::NamedTensor> tensors = MakeDecoderTensors(TestVaeShape{}, 11);
  WriteOptions bfl = SmallOptions();
  WriteOptions diffusers = SmallOptions();
  diffusers.layout = TestLayout::kDiffusers;
  WriteVae(dir.File("bfl.safetensors"), tensors, bfl);
  WriteVae(dir.File("diffusers.safetensors"), tensors, diffusers);
  const VaeDecoder a = VaeDecoder::Load(Checkpoint::Open(dir.File("bfl.safetensors")));
  const VaeDecoder b = VaeDecoder::Load(Checkpoint::Open(dir.File("diffusers.safetensors")));
  EXPECT_EQ(a.layout(), VaeLayout::kBfl);
  EXPECT_EQ(b.layout(), VaeLayout::kDiffusers);
  const torch::Tensor latent = RandomLatent({1, 16, 5, 5}, 6);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  EXPECT_TRUE(torch::equal(a.Decode(latent, provider, torch::kFloat),
                           b.Decode(latent, provider, torch::kFloat)));
}

// Records the order in which blocks are acquired and released.
class RecordingProvider : public WeightProvider {
 public:
  BlockTensors Acquire(const WeightBlock& block) override {
    events.push_back("+" + block.name);
    return inner_.Acquire(block);
  }
  void Release(const WeightBlock& block) override { events.push_back("-" + block.name); }
  std::vector<std::string> events;

 private:
  DirectWeightProvider inner_{torch::kFloat, torch::kCPU};
};

TEST(VaeDecoderTest, HoldsOneBlockAtATimeInExecutionOrder) {
  ScratchDir dir;
  WriteVae(dir.File("vae.safetensors"), MakeDecoderTensors(TestVaeShape{}, 12), SmallOptions());
  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(dir.File("vae.safetensors")));
  RecordingProvider provider;
  decoder.Decode(RandomLatent({1, 16, 4, 4}, 7), provider, torch::kFloat);
  const std::vector<std::string> expected = {"+conv_in_mid", "-conv_in_mid", "+up.2", "-up.2",
                                             "+up.1",        "-up.1",        "+up.0", "-up.0",
                                             "+out",         "-out"};
  EXPECT_EQ(provider.events, expected);
}

TEST(VaeDecoderTest, TiledMatchesTiledReference) {
  // The reference implements the same tiling (even tile starts, linear ramps, normalised
  // weights) in its own code: this checks the tile geometry and blending, not just the bound.
  ScratchDir dir;
  const std::string path = dir.File("vae.safetensors");
  WriteVae(path, MakeDecoderTensors(TestVaeShape{}, 13), SmallOptions());
  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(path));
  const torch::Tensor latent = SmoothLatent(16, 21, 14, 8);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor tiled = decoder.DecodeTiled(latent, provider, torch::kFloat, {8, 3});
  const torch::Tensor reference = RunReference(dir, path, latent, "--tile 8 --overlap 3");
  ASSERT_EQ(tiled.sizes(), (std::vector<int64_t>{1, 3, 84, 56}));
  EXPECT_LE(RelativeMaxError(tiled, reference), 1e-5);
}

TEST(VaeDecoderTest, TiledStaysCloseToUntiledOnSmoothLatent) {
  ScratchDir dir;
  const std::string path = dir.File("vae.safetensors");
  WriteVae(path, MakeDecoderTensors(TestVaeShape{}, 14), SmallOptions());
  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(path));
  const torch::Tensor latent = SmoothLatent(16, 24, 20, 9);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor untiled = decoder.Decode(latent, provider, torch::kFloat);
  const torch::Tensor blended = decoder.DecodeTiled(latent, provider, torch::kFloat, {12, 4});
  const torch::Tensor hard = decoder.DecodeTiled(latent, provider, torch::kFloat, {12, 0});
  const double blended_diff = (blended - untiled).abs().max().item<double>();
  const double hard_diff = (hard - untiled).abs().max().item<double>();
  const double mean_diff = (blended - untiled).abs().mean().item<double>();
  // Peak signal-to-noise ratio with the output's peak-to-peak range 2 as the signal.
  const double psnr = 10 * std::log10(4.0 / (blended - untiled).pow(2).mean().item<double>());
  std::cout << "tiled (12, overlap 4) vs untiled on a smooth 24x20 latent: max |diff| = "
            << blended_diff << ", mean |diff| = " << mean_diff << ", PSNR = " << psnr
            << " dB; without overlap: max |diff| = " << hard_diff << " (output range [-1, 1])\n";
  // Why they differ at all: each tile's GroupNorm statistics and mid attention see only the tile,
  // not the image (tile borders are cross-faded, so seams are not the issue: the difference is
  // spread over the whole image). Random weights are the hard case: nothing trained them to be
  // insensitive to those global statistics, as the real VAE (trained on crops) largely is.
  // Bound: PSNR >= 30 dB, the usual threshold of a visually near-lossless reconstruction (a
  // good-quality JPEG is 30-40 dB), and no pixel off by more than 0.3 (38 of 255 levels).
  EXPECT_GE(psnr, 30.0);
  EXPECT_LE(blended_diff, 0.3);
  EXPECT_GT(blended_diff, 0.0);  // tiles really were decoded separately
}

TEST(VaeDecoderTest, OneTileCoveringTheLatentEqualsUntiled) {
  ScratchDir dir;
  const std::string path = dir.File("vae.safetensors");
  WriteVae(path, MakeDecoderTensors(TestVaeShape{}, 15), SmallOptions());
  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(path));
  const torch::Tensor latent = SmoothLatent(16, 10, 9, 10);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor untiled = decoder.Decode(latent, provider, torch::kFloat);
  EXPECT_TRUE(torch::equal(decoder.DecodeTiled(latent, provider, torch::kFloat, {10, 2}), untiled));
  EXPECT_TRUE(torch::equal(decoder.DecodeTiled(latent, provider, torch::kFloat, {64, 8}), untiled));
}

TEST(VaeDecoderTest, RejectsBadInputs) {
  ScratchDir dir;
  const std::string path = dir.File("vae.safetensors");
  WriteVae(path, MakeDecoderTensors(TestVaeShape{}, 16), SmallOptions());
  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(path));
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  EXPECT_INVALID_ARGUMENT(decoder.Decode(torch::zeros({1, 4, 4, 4}), provider, torch::kFloat));
  EXPECT_INVALID_ARGUMENT(decoder.Decode(torch::zeros({16, 4, 4}), provider, torch::kFloat));
  EXPECT_INVALID_ARGUMENT(decoder.Decode(torch::zeros({1, 16, 4, 4}), provider, torch::kLong));
  EXPECT_INVALID_ARGUMENT(
      decoder.DecodeTiled(torch::zeros({1, 16, 4, 4}), provider, torch::kFloat, {4, 4}));
  EXPECT_INVALID_ARGUMENT(
      decoder.DecodeTiled(torch::zeros({1, 16, 4, 4}), provider, torch::kFloat, {0, 0}));
  VaeDecoderOptions bad;
  bad.attention_query_chunk = 0;
  EXPECT_INVALID_ARGUMENT(VaeDecoder::Load(Checkpoint::Open(path), bad));
}

}  // namespace
}  // namespace streamdit::engine
