// bench_transformer: how close the FLUX transformer gets to this machine's matmul rate.
// Prints, in one run: the measured matmul rate (f32, bf16); the time per forward of a small
// config; and the time of one full-width double block and one single block (hidden 3072, 24
// heads) at the 1024x1024 token count (4096 image + 512 text), as achieved GFLOP/s and as a
// fraction of the measured rate.
//
//   build/bench/bench_transformer [--tokens-img 4096] [--tokens-txt 512] [--dtype f32|bf16|both]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "bench/support/flux_bench.h"
#include "engine/flux/flux_transformer.h"
#include "engine/tensor/linear_kernel.h"

namespace streamdit::engine {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Best-of-n GFLOP/s of an n x n x n matmul in the given dtype, through the kernel the models'
// linears run (engine/tensor/linear_kernel.h).
double MatmulRate(torch::ScalarType dtype, int64_t n, int repeats) {
  torch::Tensor a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype);
  LinearForward(a, b);  // warm-up
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    auto start = Clock::now();
    LinearForward(a, b);
    best = std::min(best, Seconds(start));
  }
  return 2.0 * n * n * n / best / 1e9;
}

// Records the wall time each block spends between Acquire and Release.
class TimingProvider : public WeightProvider {
 public:
  explicit TimingProvider(torch::ScalarType dtype) : direct_(dtype, torch::kCPU) {}
  BlockTensors Acquire(const WeightBlock& block) override {
    BlockTensors tensors = direct_.Acquire(block);
    started_[block.name] = Clock::now();
    return tensors;
  }
  void Release(const WeightBlock& block) override {
    seconds_[block.name] += Seconds(started_[block.name]);
  }
  double seconds(const std::string& block) const { return seconds_.at(block); }

 private:
  DirectWeightProvider direct_;
  std::map<std::string, Clock::time_point> started_;
  std::map<std::string, double> seconds_;
};

FluxWeights RandomWeights(const FluxConfig& config, torch::ScalarType dtype) {
  return AssembleFluxWeights(config, [&](const std::string&, const std::vector<int64_t>& shape) {
    StoredTensor t;
    t.data = (torch::randn(shape) * 0.02).to(dtype);
    t.dtype = FromScalarType(dtype);
    return t;
  });
}

FluxInputs RandomInputs(const FluxConfig& c, int64_t img_tokens, int64_t txt_tokens) {
  FluxInputs in;
  in.img = torch::randn({1, img_tokens, c.in_channels});
  in.img_ids = torch::zeros({1, img_tokens, 3});
  in.txt = torch::randn({1, txt_tokens, c.context_in_dim});
  in.txt_ids = torch::zeros({1, txt_tokens, 3});
  in.timesteps = torch::full({1}, 0.5f);
  in.y = torch::randn({1, c.vec_in_dim});
  in.guidance = torch::full({1}, 3.5f);
  return in;
}

// FLOPs of the token-dependent work (linears + attention) of one block; modulation is per-vec.
double DoubleBlockFlops(const FluxConfig& c, int64_t img, int64_t txt) {
  const double h = c.hidden_size, m = c.mlp_hidden, l = img + txt;
  return 2.0 * l * (4 * h * h + 2 * h * m) + 4.0 * l * l * h;
}
double SingleBlockFlops(const FluxConfig& c, int64_t img, int64_t txt) {
  const double h = c.hidden_size, m = c.mlp_hidden, l = img + txt;
  return 2.0 * l * (h * (3 * h + m) + (h + m) * h) + 4.0 * l * l * h;
}

void Run(torch::ScalarType dtype, const char* name, double rate, int64_t img, int64_t txt) {
  // Small config: the demo-model scale, whole forward.
  FluxConfig small = bench::DemoScaleConfig();
  small.depth_single_blocks = 4;
  {
    FluxTransformer model(small, RandomWeights(small, dtype));
    FluxInputs in = RandomInputs(small, 1024, 64);
    DirectWeightProvider provider(dtype, torch::kCPU);
    model.Forward(in, provider, dtype);
    auto start = Clock::now();
    const int repeats = 3;
    for (int i = 0; i < repeats; ++i) model.Forward(in, provider, dtype);
    double s = Seconds(start) / repeats;
    double flops = small.depth * DoubleBlockFlops(small, 1024, 64) +
                   small.depth_single_blocks * SingleBlockFlops(small, 1024, 64);
    std::printf(
        "%-5s small forward (h256, 2+4 blocks, 1024+64 tok)  %8.3f s  %8.1f GFLOP/s  %5.1f%%\n",
        name, s, flops / s / 1e9, 100 * flops / s / 1e9 / rate);
  }
  // Full width: one double and one single block of FLUX.1 at the 1024x1024 token count.
  FluxConfig full;  // FLUX.1-dev widths
  full.depth = 1;
  full.depth_single_blocks = 1;
  FluxTransformer model(full, RandomWeights(full, dtype));
  FluxInputs in = RandomInputs(full, img, txt);
  TimingProvider provider(dtype);
  model.Forward(in, provider, dtype);
  const double d = provider.seconds("double_blocks.0"), s = provider.seconds("single_blocks.0");
  const double df = DoubleBlockFlops(full, img, txt), sf = SingleBlockFlops(full, img, txt);
  std::printf(
      "%-5s double block (h3072, %ld+%ld tok)              %8.3f s  %8.1f GFLOP/s  %5.1f%%\n", name,
      long(img), long(txt), d, df / d / 1e9, 100 * df / d / 1e9 / rate);
  std::printf(
      "%-5s single block (h3072, %ld+%ld tok)              %8.3f s  %8.1f GFLOP/s  %5.1f%%\n", name,
      long(img), long(txt), s, sf / s / 1e9, 100 * sf / s / 1e9 / rate);
}

}  // namespace
}  // namespace streamdit::engine

int main(int argc, char** argv) {
  int64_t img = 4096, txt = 512;
  std::string which = "f32";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokens-img")) img = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--tokens-txt")) txt = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--dtype")) which = argv[i + 1];
  }
  torch::manual_seed(0);
  std::printf("threads: %d\n", at::get_num_threads());
  const double f32 = streamdit::engine::MatmulRate(torch::kFloat, 2048, 5);
  const double bf16 = streamdit::engine::MatmulRate(torch::kBFloat16, 1024, 3);
  std::printf("measured matmul rate: f32 %.1f GFLOP/s (2048^3), bf16 %.1f GFLOP/s (1024^3)\n", f32,
              bf16);
  std::printf("%-5s %-50s %10s %17s %7s\n", "dtype", "what", "time", "achieved", "of peak");
  if (which == "f32" || which == "both")
    streamdit::engine::Run(torch::kFloat, "f32", f32, img, txt);
  if (which == "bf16" || which == "both")
    streamdit::engine::Run(torch::kBFloat16, "bf16", bf16, img, txt);
  return 0;
}
