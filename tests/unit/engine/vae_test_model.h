#pragma once

// Helpers for the VAE tests: small random FLUX-style VAE decoders written as safetensors in the
// BFL or diffusers layout, full-size sparse headers, and the float64 NumPy reference
// (tests/reference/vae_decoder_reference.py, run with Debian's python3).

#include <gtest/gtest.h>
#include <torch/types.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine::vae_testing {

using test_support::ScratchDir;

struct TestVaeShape {
  int64_t z_channels = 16;
  std::vector<int64_t> level_channels = {32, 64, 64};  // ch 32, ch_mult [1, 2, 2]
  int64_t resnets_per_level = 2;                       // num_res_blocks 1
  int64_t out_channels = 3;
};

// One decoder tensor under both of its names.
struct NamedTensor {
  std::string bfl;        // relative to "decoder."
  std::string diffusers;  // relative to "decoder."
  std::vector<int64_t> shape;
  torch::Tensor value;  // float32; undefined for shape-only (sparse) use
};

// Every decoder tensor of `shape`, in the BFL module order, with the names written here by hand
// from flux-spec.md §4 (independently of the engine's key mapping). Values are random with a
// fan-in scaling that keeps activations O(1), so that every layer matters in the output.
inline std::vector<NamedTensor> MakeDecoderTensors(const TestVaeShape& shape, uint64_t seed,
                                                   bool with_values = true) {
  torch::manual_seed(seed);
  std::vector<NamedTensor> out;
  const int64_t levels = static_cast<int64_t>(shape.level_channels.size());
  auto add = [&](const std::string& bfl, const std::string& diffusers, std::vector<int64_t> dims,
                 double std_dev, double mean) {
    NamedTensor t{bfl, diffusers, dims, {}};
    if (with_values) t.value = torch::randn(dims, torch::kFloat) * std_dev + mean;
    out.push_back(std::move(t));
  };
  auto conv = [&](const std::string& bfl, const std::string& diffusers, int64_t o, int64_t i,
                  int64_t k, double gain) {
    add(bfl + ".weight", diffusers + ".weight", {o, i, k, k}, gain / std::sqrt(double(i * k * k)),
        0.0);
    add(bfl + ".bias", diffusers + ".bias", {o}, 0.1, 0.0);
  };
  auto norm = [&](const std::string& bfl, const std::string& diffusers, int64_t c) {
    add(bfl + ".weight", diffusers + ".weight", {c}, 0.1, 1.0);
    add(bfl + ".bias", diffusers + ".bias", {c}, 0.1, 0.0);
  };
  auto resnet = [&](const std::string& bfl, const std::string& diffusers, int64_t in, int64_t o) {
    norm(bfl + ".norm1", diffusers + ".norm1", in);
    conv(bfl + ".conv1", diffusers + ".conv1", o, in, 3, 1.0);
    norm(bfl + ".norm2", diffusers + ".norm2", o);
    conv(bfl + ".conv2", diffusers + ".conv2", o, o, 3, 0.5);
    if (in != o) conv(bfl + ".nin_shortcut", diffusers + ".conv_shortcut", o, in, 1, 1.0);
  };
  const int64_t mid = shape.level_channels.back();
  conv("conv_in", "conv_in", mid, shape.z_channels, 3, 1.0);
  resnet("mid.block_1", "mid_block.resnets.0", shape.level_channels.back(), mid);
  norm("mid.attn_1.norm", "mid_block.attentions.0.group_norm", mid);
  const std::vector<std::pair<std::string, std::string>> projections = {
      {"q", "to_q"}, {"k", "to_k"}, {"v", "to_v"}, {"proj_out", "to_out.0"}};
  for (const auto& [bfl, diffusers] : projections) {
    // BFL stores 1x1 convs, diffusers squeezed linears: same values, different shapes.
    const double gain = bfl == "proj_out" ? 0.5 : 1.5;
    NamedTensor w{"mid.attn_1." + bfl + ".weight",
                  "mid_block.attentions.0." + diffusers + ".weight",
                  {mid, mid, 1, 1},
                  {}};
    if (with_values) w.value = torch::randn({mid, mid, 1, 1}) * (gain / std::sqrt(double(mid)));
    out.push_back(std::move(w));
    add("mid.attn_1." + bfl + ".bias", "mid_block.attentions.0." + diffusers + ".bias", {mid}, 0.1,
        0.0);
  }
  resnet("mid.block_2", "mid_block.resnets.1", mid, mid);
  for (int64_t level = levels - 1; level >= 0; --level) {
    const std::string bfl = "up." + std::to_string(level);
    const std::string diffusers = "up_blocks." + std::to_string(levels - 1 - level);
    int64_t in = level == levels - 1 ? mid : shape.level_channels[level + 1];
    const int64_t o = shape.level_channels[level];
    for (int64_t j = 0; j < shape.resnets_per_level; ++j) {
      resnet(bfl + ".block." + std::to_string(j), diffusers + ".resnets." + std::to_string(j), in,
             o);
      in = o;
    }
    if (level != 0) conv(bfl + ".upsample.conv", diffusers + ".upsamplers.0.conv", o, o, 3, 1.0);
  }
  norm("norm_out", "conv_norm_out", shape.level_channels[0]);
  conv("conv_out", "conv_out", shape.out_channels, shape.level_channels[0], 3, 0.3);
  return out;
}

enum class TestLayout { kBfl, kDiffusers };

struct WriteOptions {
  TestLayout layout = TestLayout::kBfl;
  DType dtype = DType::kF32;
  std::string prefix;  // e.g. "vae."
  std::map<std::string, std::string> metadata;
  bool with_encoder_keys = false;  // a few encoder.* tensors the decoder loader must ignore
};

inline void WriteVae(const std::string& path, const std::vector<NamedTensor>& tensors,
                     const WriteOptions& options) {
  SafetensorsWriter writer;
  for (const auto& [key, value] : options.metadata) writer.SetMetadata(key, value);
  for (const NamedTensor& t : tensors) {
    const bool diffusers = options.layout == TestLayout::kDiffusers;
    torch::Tensor value = t.value;
    if (diffusers && t.bfl.rfind("mid.attn_1.", 0) == 0 && value.dim() == 4) {
      value = value.reshape({value.size(0), value.size(1)});
    }
    AddTensor(writer, options.prefix + "decoder." + (diffusers ? t.diffusers : t.bfl), value,
              options.dtype);
  }
  if (options.with_encoder_keys) {
    AddTensor(writer, options.prefix + "encoder.conv_in.weight", torch::ones({8, 3, 3, 3}),
              options.dtype);
    AddTensor(writer, options.prefix + "encoder.conv_out.weight", torch::ones({32, 8, 3, 3}),
              options.dtype);
  }
  writer.Write(path);
}

// A header-only (sparse) file holding the given (name, shape) pairs as F32.
inline void WriteSparseShapes(
    const std::string& path,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes,
    const std::map<std::string, std::string>& metadata = {}) {
  std::vector<TensorInfo> infos;
  uint64_t offset = 0;
  for (const auto& [name, dims] : shapes) {
    TensorInfo info;
    info.name = name;
    info.dtype = DType::kF32;
    info.shape = dims;
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    info.begin = offset;
    info.end = offset + static_cast<uint64_t>(numel) * 4;
    offset = info.end;
    infos.push_back(info);
  }
  SafetensorsWriter::WriteSparse(path, infos, metadata);
}

// Runs the float64 reference on a BFL-layout file and returns its image (float64).
// `extra_args` must be shell-safe (numbers and scratch paths).
inline torch::Tensor RunReference(const ScratchDir& dir, const std::string& weights,
                                  const torch::Tensor& latent, const std::string& extra_args = "") {
  SafetensorsWriter writer;
  AddTensor(writer, "latent", latent.to(torch::kFloat), DType::kF32);
  const std::string latent_path = dir.File("latent.safetensors");
  const std::string out_path = dir.File("reference.safetensors");
  writer.Write(latent_path);
  test_support::RunPythonReference("vae_decoder_reference.py",
                                   weights + " " + latent_path + " " + out_path + " " + extra_args);
  const Checkpoint result = Checkpoint::Open(out_path);
  return ViewTensor(result.Require("image")).clone();
}

// max |a - b| / max |b|
inline double RelativeMaxError(const torch::Tensor& actual, const torch::Tensor& reference) {
  const torch::Tensor a = actual.to(torch::kDouble).cpu();
  const torch::Tensor b = reference.to(torch::kDouble).cpu();
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

}  // namespace streamdit::engine::vae_testing
