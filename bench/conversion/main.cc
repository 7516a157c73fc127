// bench_conversion: widening stored weights to float32, libtorch's Tensor::to against the fast
// path (engine/tensor/float_conversion.h), each into fresh memory (host cache off) and into
// re-used memory (engine/memory/caching_host_allocator.h, as the engine runs), interleaved rounds
// in one run, medians and their ratios to libtorch into fresh memory.
//   bench_conversion [--elements N] [--rounds R] [--threads T]
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/tensor/float_conversion.h"

namespace {

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <typename F>
double Seconds(F&& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t elements = 3072ll * 3072 * 4;  // one FLUX.1 double block's MLP weights, about
  int rounds = 7;
  int threads = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--elements") elements = std::atoll(argv[i + 1]);
    if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
  }
  at::set_num_threads(threads);
  std::printf("widening %lld elements to float32, %d thread(s), %d interleaved rounds\n",
              static_cast<long long>(elements), threads, rounds);
  streamdit::engine::CachingHostAllocator& cache =
      streamdit::engine::CpuMemoryMeter::Install().host_cache();
  std::printf("%-9s %-6s %12s %12s %9s\n", "source", "memory", "torch Mel/s", "fast Mel/s",
              "vs torch fresh");
  for (torch::ScalarType type : {torch::kBFloat16, torch::kHalf}) {
    const torch::Tensor source = torch::randn({elements}).to(type);
    if (!streamdit::engine::CanWidenToFloat32(source)) continue;
    // [fresh, reused] x [torch, fast]
    std::vector<double> seconds[2][2];
    for (int r = 0; r < rounds; ++r) {
      for (int reused = 0; reused < 2; ++reused) {
        cache.set_cached_limit_bytes(reused ? int64_t{4} << 30 : 0);
        seconds[reused][0].push_back(Seconds([&] { (void)source.to(torch::kFloat); }));
        seconds[reused][1].push_back(
            Seconds([&] { (void)streamdit::engine::WidenToFloat32(source); }));
      }
    }
    const double baseline = Median(seconds[0][0]);
    for (int reused = 0; reused < 2; ++reused) {
      const double slow = Median(seconds[reused][0]), fast = Median(seconds[reused][1]);
      std::printf("%-9s %-6s %12.0f %12.0f %8.1fx\n",
                  type == torch::kBFloat16 ? "bfloat16" : "float16", reused ? "reused" : "fresh",
                  elements / slow / 1e6, elements / fast / 1e6, baseline / fast);
    }
  }
  return 0;
}
