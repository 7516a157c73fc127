// Layouts: diffusers and BFL files of the same weights give identical outputs; full-size headers
// (sparse files) of flux1-dev / flux1-schnell load with the right configuration.
#include <gtest/gtest.h>

#include <map>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/flux/flux_transformer.h"
#include "engine/sampling/euler.h"
#include "engine/sampling/schedule.h"
#include "flux_test_support.h"

namespace streamdit::engine {
namespace {

using testing_support::ScratchDir;

FluxConfig TinyConfig() {
  FluxConfig c;
  c.in_channels = 8;
  c.out_channels = 8;
  c.vec_in_dim = 16;
  c.context_in_dim = 12;
  c.hidden_size = 32;
  c.num_heads = 2;
  c.head_dim = 16;
  c.mlp_hidden = 64;
  c.depth = 2;
  c.depth_single_blocks = 2;
  c.guidance_embed = true;
  c.axes_dim = {4, 6, 6};
  return c;
}

// The diffusers names of flux-spec.md §1.6, written out from the table (BFL -> diffusers), as the
// diffusers conversion script does: split qkv rows, swapped final adaLN halves.
void WriteAsDiffusers(const Checkpoint& bfl, const std::string& path) {
  const std::map<std::string, std::string> top = {
      {"img_in", "x_embedder"},
      {"txt_in", "context_embedder"},
      {"time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"},
      {"time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"},
      {"vector_in.in_layer", "time_text_embed.text_embedder.linear_1"},
      {"vector_in.out_layer", "time_text_embed.text_embedder.linear_2"},
      {"guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"},
      {"guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"},
      {"final_layer.linear", "proj_out"},
  };
  const std::map<std::string, std::string> dbl = {
      {"img_mod.lin", "norm1.linear"},
      {"txt_mod.lin", "norm1_context.linear"},
      {"img_attn.proj", "attn.to_out.0"},
      {"txt_attn.proj", "attn.to_add_out"},
      {"img_mlp.0", "ff.net.0.proj"},
      {"img_mlp.2", "ff.net.2"},
      {"txt_mlp.0", "ff_context.net.0.proj"},
      {"txt_mlp.2", "ff_context.net.2"},
      {"img_attn.norm.query_norm", "attn.norm_q"},
      {"img_attn.norm.key_norm", "attn.norm_k"},
      {"txt_attn.norm.query_norm", "attn.norm_added_q"},
      {"txt_attn.norm.key_norm", "attn.norm_added_k"},
  };
  const std::map<std::string, std::string> sgl = {
      {"linear2", "proj_out"},
      {"modulation.lin", "norm.linear"},
      {"norm.query_norm", "attn.norm_q"},
      {"norm.key_norm", "attn.norm_k"},
  };
  SafetensorsWriter writer;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    AddTensor(writer, name, t.contiguous(), DType::kF32);
  };
  for (const std::string& name : bfl.Names()) {
    torch::Tensor t = ViewTensor(bfl.Require(name));
    const auto dot = name.rfind('.');
    std::string module = name.substr(0, dot), suffix = name.substr(dot);
    if (suffix == ".scale") suffix = ".weight";
    if (module == "final_layer.adaLN_modulation.1") {
      auto halves = t.chunk(2, 0);
      add("norm_out.linear" + suffix, torch::cat({halves[1], halves[0]}, 0));
      continue;
    }
    if (top.count(module)) {
      add(top.at(module) + suffix, t);
      continue;
    }
    const bool is_double = name.rfind("double_blocks.", 0) == 0;
    const std::string stem = is_double ? "double_blocks." : "single_blocks.";
    const auto index_end = name.find('.', stem.size());
    const std::string index = name.substr(stem.size(), index_end - stem.size());
    const std::string rest = module.substr(index_end + 1);
    const std::string block =
        (is_double ? "transformer_blocks." : "single_transformer_blocks.") + index + ".";
    if (is_double && (rest == "img_attn.qkv" || rest == "txt_attn.qkv")) {
      auto parts = t.chunk(3, 0);
      const bool img = rest == "img_attn.qkv";
      add(block + (img ? "attn.to_q" : "attn.add_q_proj") + suffix, parts[0]);
      add(block + (img ? "attn.to_k" : "attn.add_k_proj") + suffix, parts[1]);
      add(block + (img ? "attn.to_v" : "attn.add_v_proj") + suffix, parts[2]);
    } else if (!is_double && rest == "linear1") {
      const int64_t h = TinyConfig().hidden_size;
      add(block + "attn.to_q" + suffix, t.slice(0, 0, h));
      add(block + "attn.to_k" + suffix, t.slice(0, h, 2 * h));
      add(block + "attn.to_v" + suffix, t.slice(0, 2 * h, 3 * h));
      add(block + "proj_mlp" + suffix, t.slice(0, 3 * h));
    } else {
      add(block + (is_double ? dbl : sgl).at(rest) + suffix, t);
    }
  }
  for (const auto& [key, value] : bfl.metadata()) writer.SetMetadata(key, value);
  writer.Write(path);
}

FluxInputs ReadInputs(const std::string& path) {
  Checkpoint file = Checkpoint::Open(path);
  auto get = [&](const std::string& name) {
    return file.Has(name) ? ViewTensor(file.Require(name)).clone() : torch::Tensor();
  };
  return {get("img"),       get("img_ids"), get("txt"),     get("txt_ids"),
          get("timesteps"), get("y"),       get("guidance")};
}

TEST(FluxLayout, DiffusersAndBflFilesGiveIdenticalOutputs) {
  const ScratchDir scratch("streamdit_flux_layout");
  const std::string dir = scratch.path();
  testing_support::WriteRandomFlux(dir + "/bfl.safetensors", TinyConfig(), DType::kF32, 21);
  testing_support::WriteRandomFluxInputs(dir + "/in.safetensors", TinyConfig(), 1, 2, 3, 4, 22);
  Checkpoint bfl = Checkpoint::Open(dir + "/bfl.safetensors");
  WriteAsDiffusers(bfl, dir + "/diffusers.safetensors");
  Checkpoint diffusers = Checkpoint::Open(dir + "/diffusers.safetensors");
  ASSERT_TRUE(diffusers.Has("transformer_blocks.0.attn.add_k_proj.bias"));

  FluxTransformer a = FluxTransformer::Load(bfl);
  FluxTransformer b = FluxTransformer::Load(diffusers);
  EXPECT_EQ(a.config().layout, FluxLayout::kBfl);
  EXPECT_EQ(b.config().layout, FluxLayout::kDiffusers);
  EXPECT_EQ(b.config().depth, 2);
  EXPECT_EQ(b.config().depth_single_blocks, 2);
  EXPECT_TRUE(b.config().guidance_embed);
  FluxInputs inputs = ReadInputs(dir + "/in.safetensors");
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  torch::Tensor out_a = a.Forward(inputs, provider, torch::kFloat);
  torch::Tensor out_b = b.Forward(inputs, provider, torch::kFloat);
  EXPECT_TRUE(torch::equal(out_a, out_b));
}

TEST(FluxLayout, PrefixedAllInOneFileLoads) {
  const ScratchDir scratch("streamdit_flux_prefix");
  const std::string dir = scratch.path();
  testing_support::WriteRandomFlux(dir + "/bfl.safetensors", TinyConfig(), DType::kBF16, 5);
  Checkpoint bfl = Checkpoint::Open(dir + "/bfl.safetensors");
  SafetensorsWriter writer;
  for (const std::string& name : bfl.Names()) {
    AddTensor(writer, "model.diffusion_model." + name, ViewTensor(bfl.Require(name)), DType::kBF16);
  }
  AddTensor(writer, "vae.decoder.conv_in.bias", torch::zeros({4}), DType::kF32);
  writer.SetMetadata(kFluxConfigMetadataKey, TinyConfig().RopeMetadataJson());
  writer.Write(dir + "/aio.safetensors");
  FluxTransformer t = FluxTransformer::Load(Checkpoint::Open(dir + "/aio.safetensors"));
  EXPECT_EQ(t.config().prefix, "model.diffusion_model.");
  EXPECT_EQ(t.config().hidden_size, 32);
}

// flux-spec.md §1.1/§1.5: the full-size tensor table. A sparse file holds the header only.
TEST(FluxLayout, FullSizeFlux1DevAndSchnellHeadersInferTheRightConfig) {
  const ScratchDir scratch("streamdit_flux_fullsize");
  const std::string dir = scratch.path();
  for (bool dev : {true, false}) {
    FluxConfig spec;  // defaults are FLUX.1-dev's
    spec.guidance_embed = dev;
    std::vector<TensorInfo> infos = testing_support::PackedInfos(
        FluxTensorShapes(spec), DType::kBF16, "model.diffusion_model.");
    // Spot checks against the spec's table, so the generator itself is checked too.
    EXPECT_EQ(infos.size(), dev ? 780u : 776u);
    const std::string path = dir + (dev ? "/dev.safetensors" : "/schnell.safetensors");
    SafetensorsWriter::WriteSparse(path, infos, {});
    Checkpoint ckpt = Checkpoint::Open(path);
    EXPECT_EQ(ckpt.Require("model.diffusion_model.double_blocks.18.img_mod.lin.weight").info->shape,
              (std::vector<int64_t>{18432, 3072}));
    EXPECT_EQ(ckpt.Require("model.diffusion_model.single_blocks.37.linear1.weight").info->shape,
              (std::vector<int64_t>{21504, 3072}));
    EXPECT_EQ(ckpt.Require("model.diffusion_model.single_blocks.0.linear2.weight").info->shape,
              (std::vector<int64_t>{3072, 15360}));
    FluxConfig c = InferFluxConfig(ckpt);
    EXPECT_EQ(c.hidden_size, 3072);
    EXPECT_EQ(c.num_heads, 24);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.mlp_hidden, 12288);
    EXPECT_EQ(c.depth, 19);
    EXPECT_EQ(c.depth_single_blocks, 38);
    EXPECT_EQ(c.in_channels, 64);
    EXPECT_EQ(c.out_channels, 64);
    EXPECT_EQ(c.context_in_dim, 4096);
    EXPECT_EQ(c.vec_in_dim, 768);
    EXPECT_EQ(c.guidance_embed, dev);
    EXPECT_EQ(c.axes_dim, (std::vector<int64_t>{16, 56, 56}));
    // Loading builds every block as zero-copy views: no tensor data is read from the hole.
    FluxWeights weights = LoadFluxWeights(ckpt, c);
    EXPECT_EQ(weights.double_blocks.size(), 19u);
    EXPECT_EQ(weights.single_blocks.size(), 38u);
    EXPECT_EQ(weights.nbytes(), dev ? 2 * 11901408320ll : 2 * 11891178560ll);  // spec §8.1
  }
}

TEST(FluxLayout, WrongShapeIsAnErrorNamingTheTensor) {
  const ScratchDir scratch("streamdit_flux_wrong_shape");
  const std::string dir = scratch.path();
  FluxConfig config = TinyConfig();
  auto shapes = FluxTensorShapes(config);
  for (auto& [name, shape] : shapes) {
    if (name == "double_blocks.1.txt_mlp.2.weight") shape = {32, 63};
  }
  std::vector<TensorInfo> infos = testing_support::PackedInfos(shapes, DType::kF32);
  SafetensorsWriter::WriteSparse(dir + "/bad.safetensors", infos,
                                 {{kFluxConfigMetadataKey, config.RopeMetadataJson()}});
  try {
    FluxTransformer::Load(Checkpoint::Open(dir + "/bad.safetensors"));
    FAIL() << "expected CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_EQ(e.code(), CheckpointError::Code::kBadShape);
    EXPECT_NE(std::string(e.what()).find("double_blocks.1.txt_mlp.2.weight"), std::string::npos)
        << e.what();
  }
}

TEST(FluxSampling, FourStepEulerMatchesFloat64Reference) {
  const ScratchDir scratch("streamdit_flux_euler");
  const std::string dir = scratch.path();
  FluxConfig config = TinyConfig();
  config.in_channels = config.out_channels = 8;
  testing_support::WriteRandomFlux(dir + "/m.safetensors", config, DType::kF32, 31);
  testing_support::WriteRandomFluxInputs(dir + "/in.safetensors", config, 1, 4, 4, 6, 32,
                                         /*with_timesteps=*/false);
  FluxTransformer model = FluxTransformer::Load(Checkpoint::Open(dir + "/m.safetensors"));
  FluxInputs inputs = ReadInputs(dir + "/in.safetensors");
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const std::vector<double> schedule = FluxSchedule(4, inputs.img.size(1), /*shift=*/true);
  torch::Tensor latent = EulerSample(inputs.img, schedule, [&](const torch::Tensor& img, double t) {
    FluxInputs step = inputs;
    step.img = img;
    step.timesteps = torch::full({img.size(0)}, t, torch::kFloat);
    return model.Forward(step, provider, torch::kFloat);
  });
  testing_support::RunReference("euler " + dir + "/m.safetensors " + dir + "/in.safetensors 4 1 " +
                                dir + "/ref.safetensors");
  torch::Tensor ref =
      ViewTensor(Checkpoint::Open(dir + "/ref.safetensors").Require("latent")).clone();
  EXPECT_LE(testing_support::RelativeError(latent, ref), 1e-5);
}

}  // namespace
}  // namespace streamdit::engine
