// Loading VAE decoders: the full-size ae.safetensors layout (sparse header, no data), diffusers
// names, inferred configurations, and one test per rejection.

#include "engine/vae/vae_checkpoint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/vae/vae_decoder.h"
#include "tests/unit/engine/vae_test_model.h"

namespace streamdit::engine {
namespace {

using vae_testing::MakeDecoderTensors;
using vae_testing::NamedTensor;
using vae_testing::ScratchDir;
using vae_testing::TestVaeShape;
using vae_testing::WriteSparseShapes;

using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// The ae.safetensors decoder (flux-spec.md §4 table): ch 128, ch_mult [1, 2, 4, 4], 2 res blocks.
TestVaeShape FluxShape() {
  TestVaeShape shape;
  shape.level_channels = {128, 256, 512, 512};
  shape.resnets_per_level = 3;
  return shape;
}

Shapes DecoderShapes(const TestVaeShape& shape, const std::string& prefix, bool diffusers) {
  Shapes shapes;
  for (const NamedTensor& t : MakeDecoderTensors(shape, 0, /*with_values=*/false)) {
    std::vector<int64_t> dims = t.shape;
    if (diffusers && t.bfl.rfind("mid.attn_1.", 0) == 0 && dims.size() == 4) dims.resize(2);
    shapes.emplace_back(prefix + "decoder." + (diffusers ? t.diffusers : t.bfl), dims);
  }
  return shapes;
}

template <typename Predicate>
void RemoveIf(Shapes& shapes, Predicate drop) {
  shapes.erase(std::remove_if(shapes.begin(), shapes.end(),
                              [&](const auto& entry) { return drop(entry.first); }),
               shapes.end());
}

CheckpointError::Code LoadError(const std::string& path) {
  try {
    LoadVaeDecoderWeights(Checkpoint::Open(path));
  } catch (const CheckpointError& e) {
    return e.code();
  }
  ADD_FAILURE() << "loading " << path << " did not throw";
  return CheckpointError::Code::kIo;
}

TEST(VaeCheckpointTest, FullSizeBflHeaderInfersFluxConfig) {
  ScratchDir dir;
  Shapes shapes = DecoderShapes(FluxShape(), "", false);
  ASSERT_EQ(shapes.size(), 138u);  // flux-spec.md §4: 138 decoder.* tensors
  // Encoder tensors sit next to the decoder in ae.safetensors and must be ignored.
  shapes.emplace_back("encoder.conv_in.weight", std::vector<int64_t>{128, 3, 3, 3});
  shapes.emplace_back("encoder.conv_out.weight", std::vector<int64_t>{32, 512, 3, 3});
  shapes.emplace_back("encoder.down.0.block.0.conv1.weight", std::vector<int64_t>{128, 128, 3, 3});
  WriteSparseShapes(dir.File("ae.safetensors"), shapes);

  const VaeDecoder decoder = VaeDecoder::Load(Checkpoint::Open(dir.File("ae.safetensors")));
  const VaeDecoderConfig& c = decoder.config();
  EXPECT_EQ(c.ch, 128);
  EXPECT_EQ(c.ch_mult, (std::vector<int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(c.num_res_blocks, 2);
  EXPECT_EQ(c.z_channels, 16);
  EXPECT_EQ(c.out_channels, 3);
  EXPECT_EQ(c.norm_groups, 32);
  EXPECT_EQ(c.upsample_factor(), 8);
  EXPECT_EQ(decoder.layout(), VaeLayout::kBfl);
  EXPECT_EQ(decoder.key_prefix(), "");
  EXPECT_EQ(decoder.parameter_count(), 49'545'475);  // flux-spec.md §8.1

  std::vector<std::string> names;
  int64_t bytes = 0;
  for (const WeightBlock& block : decoder.blocks()) {
    names.push_back(block.name);
    bytes += block.nbytes();
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"conv_in_mid", "up.3", "up.2", "up.1", "up.0", "out"}));
  EXPECT_EQ(bytes, 49'545'475 * 4);  // F32 storage
}

TEST(VaeCheckpointTest, FullSizeDiffusersHeaderUnderPrefixLoadsTheSameModel) {
  ScratchDir dir;
  WriteSparseShapes(dir.File("bfl.safetensors"), DecoderShapes(FluxShape(), "", false));
  WriteSparseShapes(dir.File("dif.safetensors"),
                    DecoderShapes(FluxShape(), "first_stage_model.", true));
  const VaeDecoderWeights bfl =
      LoadVaeDecoderWeights(Checkpoint::Open(dir.File("bfl.safetensors")));
  const VaeDecoderWeights dif =
      LoadVaeDecoderWeights(Checkpoint::Open(dir.File("dif.safetensors")));
  EXPECT_EQ(dif.layout, VaeLayout::kDiffusers);
  EXPECT_EQ(dif.key_prefix, "first_stage_model.");
  EXPECT_EQ(dif.config.ToString(), bfl.config.ToString());
  ASSERT_EQ(dif.blocks.size(), bfl.blocks.size());
  for (std::size_t b = 0; b < bfl.blocks.size(); ++b) {
    const WeightBlock& x = bfl.blocks[b];
    const WeightBlock& y = dif.blocks[b];
    EXPECT_EQ(x.name, y.name);
    ASSERT_EQ(x.tensors.size(), y.tensors.size()) << x.name;
    for (std::size_t t = 0; t < x.tensors.size(); ++t) {
      EXPECT_EQ(x.tensors[t].first, y.tensors[t].first);
      EXPECT_EQ(x.tensors[t].second.sizes(), y.tensors[t].second.sizes()) << x.tensors[t].first;
    }
  }
}

TEST(VaeCheckpointTest, SmallConfigIsInferredFromShapes) {
  ScratchDir dir;
  TestVaeShape shape;
  shape.level_channels = {32, 64};
  shape.resnets_per_level = 2;
  WriteSparseShapes(dir.File("small.safetensors"), DecoderShapes(shape, "vae.", false));
  const VaeDecoderWeights w =
      LoadVaeDecoderWeights(Checkpoint::Open(dir.File("small.safetensors")));
  EXPECT_EQ(w.config.ch, 32);
  EXPECT_EQ(w.config.ch_mult, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(w.config.num_res_blocks, 1);
  EXPECT_EQ(w.config.z_channels, 16);
  EXPECT_EQ(w.key_prefix, "vae.");
}

TEST(VaeCheckpointTest, NormGroupsComeFromMetadata) {
  ScratchDir dir;
  TestVaeShape shape;
  shape.level_channels = {24, 48};  // not divisible by 32
  const Shapes shapes = DecoderShapes(shape, "", false);
  WriteSparseShapes(dir.File("plain.safetensors"), shapes);
  EXPECT_EQ(LoadError(dir.File("plain.safetensors")), CheckpointError::Code::kBadShape);

  WriteSparseShapes(dir.File("groups.safetensors"), shapes,
                    {{"vae_config", R"({"norm_groups": 8})"}});
  EXPECT_EQ(
      LoadVaeDecoderWeights(Checkpoint::Open(dir.File("groups.safetensors"))).config.norm_groups,
      8);

  WriteSparseShapes(dir.File("bad.safetensors"), shapes, {{"vae_config", "{norm_groups: 8"}});
  EXPECT_EQ(LoadError(dir.File("bad.safetensors")), CheckpointError::Code::kInvalidEntry);
  WriteSparseShapes(dir.File("zero.safetensors"), shapes,
                    {{"vae_config", R"({"norm_groups": 0})"}});
  EXPECT_EQ(LoadError(dir.File("zero.safetensors")), CheckpointError::Code::kInvalidEntry);
}

TEST(VaeCheckpointTest, RejectsFilesWithoutADecoder) {
  ScratchDir dir;
  WriteSparseShapes(dir.File("encoder.safetensors"), {{"encoder.conv_in.weight", {128, 3, 3, 3}}});
  EXPECT_EQ(LoadError(dir.File("encoder.safetensors")), CheckpointError::Code::kUnrecognizedLayout);
  // conv_in alone: neither layout's up blocks.
  WriteSparseShapes(dir.File("stub.safetensors"), {{"decoder.conv_in.weight", {64, 16, 3, 3}}});
  EXPECT_EQ(LoadError(dir.File("stub.safetensors")), CheckpointError::Code::kUnrecognizedLayout);
}

TEST(VaeCheckpointTest, RejectsMissingAndMisshapenTensors) {
  ScratchDir dir;
  TestVaeShape shape;
  shape.level_channels = {32, 64};
  Shapes missing = DecoderShapes(shape, "", false);
  RemoveIf(missing,
           [](const std::string& name) { return name == "decoder.up.0.block.1.conv2.bias"; });
  WriteSparseShapes(dir.File("missing.safetensors"), missing);
  EXPECT_EQ(LoadError(dir.File("missing.safetensors")), CheckpointError::Code::kMissingTensor);

  Shapes no_upsample = DecoderShapes(shape, "", false);
  RemoveIf(no_upsample,
           [](const std::string& name) { return name.find("upsample") != std::string::npos; });
  WriteSparseShapes(dir.File("no_upsample.safetensors"), no_upsample);
  EXPECT_EQ(LoadError(dir.File("no_upsample.safetensors")), CheckpointError::Code::kMissingTensor);

  Shapes wrong = DecoderShapes(shape, "", false);
  for (auto& [name, dims] : wrong) {
    if (name == "decoder.mid.block_2.conv1.weight") dims = {64, 64, 1, 1};
  }
  WriteSparseShapes(dir.File("wrong.safetensors"), wrong);
  EXPECT_EQ(LoadError(dir.File("wrong.safetensors")), CheckpointError::Code::kBadShape);

  Shapes attention = DecoderShapes(shape, "", false);
  for (auto& [name, dims] : attention) {
    if (name == "decoder.mid.attn_1.k.weight") dims = {64, 32};
  }
  WriteSparseShapes(dir.File("attention.safetensors"), attention);
  EXPECT_EQ(LoadError(dir.File("attention.safetensors")), CheckpointError::Code::kBadShape);
}

}  // namespace
}  // namespace streamdit::engine
