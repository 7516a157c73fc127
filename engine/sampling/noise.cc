#include "engine/sampling/noise.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

void RequirePositive(const char* field, int64_t value) {
  if (value < 1) {
    throw InvalidArgument(std::string(field) + " must be at least 1, got " + std::to_string(value));
  }
}

// ceil(pixels / 16) patches per side, two latent cells per patch.
int64_t LatentCells(int64_t pixels) { return 2 * ((pixels + 15) / 16); }

}  // namespace

torch::Tensor FluxNoise(int64_t batch, int64_t height, int64_t width, uint64_t seed) {
  RequirePositive("batch", batch);
  RequirePositive("height", height);
  RequirePositive("width", width);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn({batch, 16, LatentCells(height), LatentCells(width)}, generator,
                   at::TensorOptions().dtype(at::kBFloat16).device(at::kCPU));
}

torch::Tensor FluxNoiseForSeeds(const std::vector<uint64_t>& seeds, int64_t height, int64_t width) {
  RequirePositive("batch", static_cast<int64_t>(seeds.size()));
  if (seeds.size() == 1) return FluxNoise(1, height, width, seeds[0]);
  // Filled image by image so that at most one image's draw exists beside the result.
  torch::Tensor noise =
      at::empty({static_cast<int64_t>(seeds.size()), 16, LatentCells(height), LatentCells(width)},
                at::TensorOptions().dtype(at::kBFloat16).device(at::kCPU));
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    noise[static_cast<int64_t>(i)].copy_(FluxNoise(1, height, width, seeds[i])[0]);
  }
  return noise;
}

}  // namespace streamdit::engine
