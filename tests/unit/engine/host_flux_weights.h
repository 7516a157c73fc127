// Random FLUX transformer weights held in the host tier (outside the counted allocator, like
// weights mapped from a file), and random inputs, for the streaming, storage and memory-model
// tests.
#pragma once

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/flux/flux_config.h"
#include "engine/flux/flux_transformer.h"
#include "engine/flux/flux_weights.h"
#include "engine/streaming/host_tensor.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine::testing_support {

// A small model with every kind of block: 2 double and 3 single blocks of hidden 128.
inline FluxConfig SmallStreamingFluxConfig() {
  FluxConfig c;
  c.in_channels = 16;
  c.out_channels = 16;
  c.vec_in_dim = 32;
  c.context_in_dim = 48;
  c.hidden_size = 128;
  c.num_heads = 4;
  c.head_dim = 32;
  c.mlp_hidden = 512;
  c.depth = 2;
  c.depth_single_blocks = 3;
  c.axes_dim = {8, 12, 12};
  return c;
}

// N(0, 1/fan_in) matrices, norm scales near 1, small biases, in `storage` dtype.
inline FluxWeights RandomHostFluxWeights(const FluxConfig& config, torch::ScalarType storage,
                                         uint64_t seed) {
  torch::manual_seed(seed);
  return AssembleFluxWeights(
      config, [&](const std::string& name, const std::vector<int64_t>& shape) {
        torch::Tensor value;
        if (name.size() > 6 && name.compare(name.size() - 6, 6, ".scale") == 0) {
          value = 1 + 0.2 * torch::randn(shape);
        } else if (shape.size() == 2) {
          value = torch::randn(shape) / std::sqrt(double(shape[1]));
        } else {
          value = 0.1 * torch::randn(shape);
        }
        StoredTensor t;
        t.data = CopyToHost(value.to(storage));
        t.dtype = FromScalarType(storage);
        return t;
      });
}

// One image of 24 tokens and 8 text tokens for `c`, drawn after torch::manual_seed(seed).
inline FluxInputs RandomFluxInputs(const FluxConfig& c, uint64_t seed) {
  torch::manual_seed(seed);
  FluxInputs in;
  in.img = torch::randn({1, 24, c.in_channels});
  in.img_ids = torch::randint(0, 6, {1, 24, 3}).to(torch::kFloat);
  in.txt = torch::randn({1, 8, c.context_in_dim});
  in.txt_ids = torch::zeros({1, 8, 3});
  in.timesteps = torch::full({1}, 0.7f);
  in.y = torch::randn({1, c.vec_in_dim});
  in.guidance = torch::full({1}, 3.5f);
  return in;
}

}  // namespace streamdit::engine::testing_support
