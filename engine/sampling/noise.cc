#include "engine/sampling/noise.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>
#include <string>

namespace streamdit::engine {
namespace {

void RequirePositive(const char* field, int64_t value) {
  if (value < 1) {
    throw std::invalid_argument(std::string(field) + " must be at least 1, got " +
                                std::to_string(value));
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

}  // namespace streamdit::engine
