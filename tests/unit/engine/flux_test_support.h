// Small random FLUX checkpoints and inputs for tests, and the float64 reference runner.
#pragma once

#include <torch/types.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "engine/checkpoint/safetensors.h"
#include "engine/flux/flux_config.h"
#include "engine/flux/flux_weights.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine::testing_support {

using test_support::ScratchDir;

// Weights ~ N(0, 1/fan_in) so activations stay O(1) through the blocks; norm scales near 1.
inline void WriteRandomFlux(const std::string& path, const FluxConfig& config, DType storage,
                            uint64_t seed) {
  torch::manual_seed(seed);
  SafetensorsWriter writer;
  writer.SetMetadata(kFluxConfigMetadataKey, config.RopeMetadataJson());
  for (const auto& [name, shape] : FluxTensorShapes(config)) {
    torch::Tensor value;
    const bool norm_scale = name.size() > 6 && name.compare(name.size() - 6, 6, ".scale") == 0;
    if (norm_scale) {
      value = 1 + 0.2 * torch::randn(shape, torch::kDouble);
    } else if (shape.size() == 2) {
      value = torch::randn(shape, torch::kDouble) / std::sqrt(double(shape[1]));
    } else {
      value = 0.1 * torch::randn(shape, torch::kDouble);
    }
    AddTensor(writer, name, value.to(torch::kFloat), storage);
  }
  writer.Write(path);
}

// Inputs with every RoPE axis exercised (image ids on a grid, a non-zero first axis).
inline void WriteRandomFluxInputs(const std::string& path, const FluxConfig& config, int64_t batch,
                                  int64_t rows, int64_t cols, int64_t txt_len, uint64_t seed,
                                  bool with_timesteps = true) {
  torch::manual_seed(seed);
  const int64_t tokens = rows * cols;
  torch::Tensor grid_r = torch::arange(rows, torch::kFloat).repeat_interleave(cols);
  torch::Tensor grid_c = torch::arange(cols, torch::kFloat).repeat({rows});
  torch::Tensor img_ids =
      torch::stack({torch::ones({tokens}), grid_r, grid_c}, -1).unsqueeze(0).repeat({batch, 1, 1});
  SafetensorsWriter writer;
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    AddTensor(writer, name, t.contiguous(), DType::kF32);
  };
  add("img", torch::randn({batch, tokens, config.in_channels}));
  add("img_ids", img_ids);
  add("txt", torch::randn({batch, txt_len, config.context_in_dim}));
  add("txt_ids", torch::zeros({batch, txt_len, 3}));
  if (with_timesteps) add("timesteps", torch::rand({batch}));
  add("y", torch::randn({batch, config.vec_in_dim}));
  // Guidance values whose 1000x is exact in bf16 (4000, 2000), so that the bf16 run differs from
  // the float64 reference by rounding only, not by BFL's deliberate bf16 rounding of 1000 * g.
  if (config.guidance_embed) {
    add("guidance", torch::tensor({4.0f, 2.0f}).repeat({batch}).slice(0, 0, batch));
  }
  writer.Write(path);
}

// Header entries for a sparse file: tensors packed end to end in the given order.
inline std::vector<TensorInfo> PackedInfos(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes, DType dtype,
    const std::string& prefix = "") {
  std::vector<TensorInfo> infos;
  uint64_t offset = 0;
  for (const auto& [name, shape] : shapes) {
    TensorInfo info;
    info.name = prefix + name;
    info.dtype = dtype;
    info.shape = shape;
    info.begin = offset;
    offset += static_cast<uint64_t>(info.numel()) * DTypeSize(dtype);
    info.end = offset;
    infos.push_back(info);
  }
  return infos;
}

inline void RunReference(const std::string& args) {
  test_support::RunPythonReference("flux_reference.py", args);
}

inline double RelativeError(const torch::Tensor& actual, const torch::Tensor& expected) {
  return (actual.to(torch::kDouble) - expected.to(torch::kDouble)).abs().max().item<double>() /
         expected.abs().max().item<double>();
}

}  // namespace streamdit::engine::testing_support
