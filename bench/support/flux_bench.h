// What the transformer benchmarks share (bench_streaming, bench_lora, bench_eager): timing,
// medians, list flags, the full-width FLUX test model with random bf16 weights in the host tier,
// and its inputs.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/flux/flux_transformer.h"
#include "engine/streaming/host_tensor.h"

namespace streamdit::engine::bench {

using Clock = std::chrono::steady_clock;

inline double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// A flag's comma-separated positive numbers ("256,1024"); std::invalid_argument naming the flag.
inline std::vector<int64_t> ParsePositiveList(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const int64_t value = std::atoll(item.c_str());
    if (value <= 0) throw std::invalid_argument(flag + " wants positive numbers, got " + text);
    out.push_back(value);
  }
  return out;
}

// FLUX.1 widths (the FluxConfig defaults) with 2 double and 2 single blocks: every block has the
// size of the real model's, so per-block copy and compute times are the real ones.
inline FluxConfig FullConfig() {
  FluxConfig c;
  c.depth = 2;
  c.depth_single_blocks = 2;
  return c;
}

// The demo model's scale (hidden 256, 2 + 2 blocks), for a quick run or a rehearsal.
inline FluxConfig DemoScaleConfig() {
  FluxConfig c;
  c.hidden_size = 256;
  c.num_heads = 4;
  c.head_dim = 64;
  c.mlp_hidden = 1024;
  c.depth = 2;
  c.depth_single_blocks = 2;
  c.context_in_dim = 256;
  c.vec_in_dim = 128;
  c.axes_dim = {16, 24, 24};
  return c;
}

// Random bf16 weights in host-tier memory, like a bf16 checkpoint mapped from disk. `made`, when
// given, sees each tensor by its checkpoint name as it is made (e.g. to write it to a file).
inline FluxWeights HostWeights(
    const FluxConfig& config,
    const std::function<void(const std::string&, const torch::Tensor&)>& made = {}) {
  torch::manual_seed(0);
  return AssembleFluxWeights(
      config, [&](const std::string& name, const std::vector<int64_t>& shape) {
        const double fan_in = shape.size() == 2 ? double(shape[1]) : 100.0;
        const torch::Tensor weight = (torch::randn(shape) / std::sqrt(fan_in)).to(torch::kBFloat16);
        if (made) made(name, weight);
        StoredTensor t;
        t.data = CopyToHost(weight);
        t.dtype = DType::kBF16;
        return t;
      });
}

// `batch` images of `img_tokens` tokens with `txt_tokens` of text; image ids on a grid (row,
// column) and text ids zero, as the pipeline builds them.
inline FluxInputs Inputs(const FluxConfig& c, int64_t img_tokens, int64_t txt_tokens,
                         int64_t batch = 1) {
  torch::manual_seed(1);
  FluxInputs in;
  in.img = torch::randn({batch, img_tokens, c.in_channels});
  const int64_t cols = std::max<int64_t>(1, static_cast<int64_t>(std::sqrt(double(img_tokens))));
  torch::Tensor index = torch::arange(img_tokens, torch::kFloat);
  in.img_ids = torch::stack({torch::zeros({img_tokens}), torch::floor(index / cols),
                             torch::fmod(index, double(cols))},
                            -1)
                   .unsqueeze(0)
                   .expand({batch, -1, -1});
  in.txt = torch::randn({batch, txt_tokens, c.context_in_dim});
  in.txt_ids = torch::zeros({batch, txt_tokens, 3});
  in.timesteps = torch::full({batch}, 0.7f);
  in.y = torch::randn({batch, c.vec_in_dim});
  in.guidance = torch::full({batch}, 3.5f);
  return in;
}

}  // namespace streamdit::engine::bench
