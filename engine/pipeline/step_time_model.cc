#include "engine/pipeline/step_time_model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "engine/flux/flux_transformer.h"
#include "engine/tensor/linear_kernel.h"

namespace streamdit::engine {

double DenoiseStepFlops(const FluxTransformer& transformer, int64_t batch, int64_t img_tokens,
                        int64_t txt_tokens) {
  const FluxConfig& c = transformer.config();
  const FluxWeights& w = transformer.weights();
  const int64_t tokens = img_tokens + txt_tokens;
  auto matmul_params = [](const WeightBlock& block, const std::string& prefix) {
    double params = 0;
    for (const auto& [name, tensor] : block.tensors) {
      if (tensor.dim() == 2 && name.compare(0, prefix.size(), prefix) == 0) {
        params += double(tensor.numel());
      }
    }
    return params;
  };
  double flops = 2.0 * batch *
                 (img_tokens * matmul_params(w.input_embedders, "img_in") +
                  txt_tokens * matmul_params(w.input_embedders, "txt_in"));
  for (const WeightBlock& block : w.double_blocks) {
    flops +=
        2.0 * batch *
        (img_tokens * matmul_params(block, "img_") + txt_tokens * matmul_params(block, "txt_"));
  }
  for (const WeightBlock& block : w.single_blocks) {
    flops += 2.0 * batch * tokens * matmul_params(block, "");
  }
  flops += 2.0 * batch * img_tokens * matmul_params(w.final_layer, "");
  const double attention = 4.0 * batch * double(tokens) * tokens * c.hidden_size;
  flops += attention * double(c.depth + c.depth_single_blocks);
  return flops;
}

double MeasureComputeRate() {
  const int64_t n = 1024;
  // A linear through the kernel the models' layers run (linear_kernel.h).
  const torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  LinearForward(a, b);  // warm-up
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    LinearForward(a, b);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * n * n * n / s);
  }
  return best;
}

StepTimePrediction PredictStepTime(double flops, double flops_per_second, int64_t streamed_bytes,
                                   double bytes_per_second, int prefetch_depth) {
  StepTimePrediction time;
  time.compute_seconds = flops / flops_per_second;
  time.transfer_seconds = double(streamed_bytes) / bytes_per_second;
  time.step_seconds = prefetch_depth > 0 ? std::max(time.compute_seconds, time.transfer_seconds)
                                         : time.compute_seconds + time.transfer_seconds;
  return time;
}

}  // namespace streamdit::engine
