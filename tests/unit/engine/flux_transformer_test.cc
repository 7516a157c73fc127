// The FLUX transformer against an independent float64 reference, through the flux-forward CLI.
#include "engine/flux/flux_transformer.h"

#include <gtest/gtest.h>

#include <sstream>

#include "engine/checkpoint/checkpoint.h"
#include "flux_test_support.h"
#include "server/cli/flux_forward_command.h"

namespace streamdit::engine {
namespace {

using testing_support::RelativeError;
using testing_support::RunReference;
using testing_support::ScratchDir;
using testing_support::WriteRandomFlux;
using testing_support::WriteRandomFluxInputs;

FluxConfig SmallDevLike() {
  FluxConfig c;
  c.in_channels = 16;
  c.out_channels = 16;
  c.vec_in_dim = 24;
  c.context_in_dim = 48;
  c.hidden_size = 64;
  c.num_heads = 2;
  c.head_dim = 32;
  c.mlp_hidden = 256;
  c.depth = 2;
  c.depth_single_blocks = 2;
  c.guidance_embed = true;
  c.axes_dim = {8, 12, 12};
  c.theta = 10000;
  return c;
}

FluxConfig SmallSchnellLike() {
  FluxConfig c;
  c.in_channels = 64;
  c.out_channels = 32;
  c.vec_in_dim = 32;
  c.context_in_dim = 40;
  c.hidden_size = 96;
  c.num_heads = 2;
  c.head_dim = 48;
  c.mlp_hidden = 192;
  c.depth = 1;
  c.depth_single_blocks = 3;
  c.guidance_embed = false;
  c.axes_dim = {16, 16, 16};
  c.theta = 2000;
  return c;
}

torch::Tensor ReadTensor(const std::string& path, const std::string& name) {
  Checkpoint file = Checkpoint::Open(path);
  return ViewTensor(file.Require(name)).clone();
}

int FluxForward(const std::vector<std::string>& args, std::string* error = nullptr) {
  std::ostringstream out, err;
  int code = server::cli::RunFluxForwardCommand(args, out, err);
  if (error) *error = err.str();
  return code;
}

struct Case {
  std::string name;
  FluxConfig config;
  DType storage;
};

class FluxReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(FluxReferenceTest, FluxForwardMatchesFloat64Reference) {
  const Case& c = GetParam();
  const ScratchDir scratch("streamdit_flux_" + std::string(c.name));
  const std::string dir = scratch.path();
  const std::string model = dir + "/model.safetensors", inputs = dir + "/inputs.safetensors";
  WriteRandomFlux(model, c.config, c.storage, 7);
  WriteRandomFluxInputs(inputs, c.config, /*batch=*/2, /*rows=*/3, /*cols=*/4, /*txt_len=*/5, 11);
  std::string error;
  ASSERT_EQ(FluxForward({"--model", model, "--inputs", inputs, "--out", dir + "/ours.safetensors",
                         "--dtype", "f32"},
                        &error),
            0)
      << error;
  RunReference("forward " + model + " " + inputs + " " + dir + "/ref.safetensors");
  torch::Tensor ours = ReadTensor(dir + "/ours.safetensors", "pred");
  torch::Tensor ref = ReadTensor(dir + "/ref.safetensors", "pred");
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_LE(RelativeError(ours, ref), 1e-5) << c.name;
  // bf16 compute: BFL rounds 1000 * t to bf16 before the sinusoid (spacing 2-4 at t ~ 0.5), which
  // moves the high-frequency embedding components by radians; the float64 reference does not.
  // So this is a sanity bound (a wrong formula is off by O(1)); f32 above is the exactness check.
  ASSERT_EQ(FluxForward({"--model", model, "--inputs", inputs, "--out", dir + "/bf16.safetensors",
                         "--dtype", "bf16"}),
            0);
  EXPECT_LE(RelativeError(ReadTensor(dir + "/bf16.safetensors", "pred"), ref), 0.15) << c.name;
}

INSTANTIATE_TEST_SUITE_P(Configs, FluxReferenceTest,
                         ::testing::Values(Case{"dev_f32", SmallDevLike(), DType::kF32},
                                           Case{"dev_bf16", SmallDevLike(), DType::kBF16},
                                           Case{"dev_f8", SmallDevLike(), DType::kF8E4M3},
                                           Case{"schnell_f32", SmallSchnellLike(), DType::kF32},
                                           Case{"schnell_bf16", SmallSchnellLike(), DType::kBF16},
                                           Case{"schnell_f8", SmallSchnellLike(), DType::kF8E4M3}),
                         [](const auto& info) { return info.param.name; });

TEST(FluxForwardCommand, MissingAndMisshapenInputsNameTheTensorAndShape) {
  const FluxConfig config = SmallDevLike();
  const ScratchDir scratch("streamdit_flux_bad_inputs");
  const std::string dir = scratch.path();
  const std::string model = dir + "/model.safetensors";
  WriteRandomFlux(model, config, DType::kF32, 1);

  SafetensorsWriter missing;
  AddTensor(missing, "img", torch::zeros({1, 4, 16}), DType::kF32);
  missing.Write(dir + "/missing.safetensors");
  std::string error;
  EXPECT_EQ(FluxForward({"--model", model, "--inputs", dir + "/missing.safetensors", "--out",
                         dir + "/o.safetensors"},
                        &error),
            2);
  EXPECT_NE(error.find("img_ids"), std::string::npos) << error;

  WriteRandomFluxInputs(dir + "/good.safetensors", config, 1, 2, 2, 3, 5);
  Checkpoint good = Checkpoint::Open(dir + "/good.safetensors");
  SafetensorsWriter misshapen;
  for (const std::string& name : good.Names()) {
    torch::Tensor t = ViewTensor(good.Require(name));
    if (name == "txt") t = torch::zeros({1, 3, 47});
    AddTensor(misshapen, name, t, DType::kF32);
  }
  misshapen.Write(dir + "/misshapen.safetensors");
  EXPECT_EQ(FluxForward({"--model", model, "--inputs", dir + "/misshapen.safetensors", "--out",
                         dir + "/o.safetensors"},
                        &error),
            2);
  EXPECT_NE(error.find("'txt'"), std::string::npos) << error;
  EXPECT_NE(error.find("[1, *, 48]"), std::string::npos) << error;
}

TEST(FluxForwardCommand, RopeFromFlagsWhenMetadataIsAbsent) {
  FluxConfig config = SmallDevLike();
  const ScratchDir scratch("streamdit_flux_rope_flags");
  const std::string dir = scratch.path();
  WriteRandomFlux(dir + "/with_meta.safetensors", config, DType::kF32, 3);
  // Same tensors, no flux_config metadata: head_dim 32 has no default, so RoPE must be given.
  Checkpoint with_meta = Checkpoint::Open(dir + "/with_meta.safetensors");
  SafetensorsWriter bare;
  for (const std::string& name : with_meta.Names()) {
    AddTensor(bare, name, ViewTensor(with_meta.Require(name)), DType::kF32);
  }
  bare.Write(dir + "/bare.safetensors");
  WriteRandomFluxInputs(dir + "/in.safetensors", config, 1, 2, 3, 2, 4);
  std::string error;
  EXPECT_EQ(FluxForward({"--model", dir + "/bare.safetensors", "--inputs", dir + "/in.safetensors",
                         "--out", dir + "/a.safetensors"},
                        &error),
            1);
  EXPECT_NE(error.find("--axes-dim"), std::string::npos) << error;
  ASSERT_EQ(
      FluxForward({"--model", dir + "/bare.safetensors", "--inputs", dir + "/in.safetensors",
                   "--out", dir + "/a.safetensors", "--axes-dim", "8,12,12", "--theta", "10000"}),
      0);
  ASSERT_EQ(FluxForward({"--model", dir + "/with_meta.safetensors", "--inputs",
                         dir + "/in.safetensors", "--out", dir + "/b.safetensors"}),
            0);
  EXPECT_TRUE(torch::equal(ReadTensor(dir + "/a.safetensors", "pred"),
                           ReadTensor(dir + "/b.safetensors", "pred")));
}

}  // namespace
}  // namespace streamdit::engine
