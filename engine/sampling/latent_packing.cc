#include "engine/sampling/latent_packing.h"

#include <ATen/ATen.h>

#include <string>

#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kLatentChannels = 16;
constexpr int64_t kTokenFeatures = kLatentChannels * 2 * 2;

void RequireAtLeast(const char* field, int64_t value, int64_t minimum) {
  if (value < minimum) {
    throw InvalidArgument(std::string(field) + " must be at least " + std::to_string(minimum) +
                          ", got " + std::to_string(value));
  }
}

}  // namespace

torch::Tensor PackLatent(const torch::Tensor& latent) {
  if (latent.dim() != 4 || latent.size(1) != kLatentChannels || latent.size(2) % 2 != 0 ||
      latent.size(3) % 2 != 0) {
    throw InvalidArgument("latent must be [B, 16, 2h, 2w], got " + ShapeString(latent.sizes()));
  }
  const int64_t batch = latent.size(0);
  const int64_t rows = latent.size(2) / 2;
  const int64_t cols = latent.size(3) / 2;
  // b c (h ph) (w pw) -> b (h w) (c ph pw)
  return latent.reshape({batch, kLatentChannels, rows, 2, cols, 2})
      .permute({0, 2, 4, 1, 3, 5})
      .reshape({batch, rows * cols, kTokenFeatures})
      .contiguous();
}

torch::Tensor UnpackLatent(const torch::Tensor& tokens, int64_t height, int64_t width) {
  RequireAtLeast("height", height, 1);
  RequireAtLeast("width", width, 1);
  const int64_t rows = (height + 15) / 16;
  const int64_t cols = (width + 15) / 16;
  if (tokens.dim() != 3 || tokens.size(1) != rows * cols || tokens.size(2) != kTokenFeatures) {
    throw InvalidArgument("tokens for " + std::to_string(height) + "x" + std::to_string(width) +
                          " px must be [B, " + std::to_string(rows * cols) + ", 64], got " +
                          ShapeString(tokens.sizes()));
  }
  const int64_t batch = tokens.size(0);
  // b (h w) (c ph pw) -> b c (h ph) (w pw)
  return tokens.reshape({batch, rows, cols, kLatentChannels, 2, 2})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({batch, kLatentChannels, rows * 2, cols * 2})
      .contiguous();
}

torch::Tensor ImageIds(int64_t batch, int64_t rows, int64_t cols) {
  RequireAtLeast("batch", batch, 1);
  RequireAtLeast("rows", rows, 1);
  RequireAtLeast("cols", cols, 1);
  const auto options = at::TensorOptions().dtype(at::kFloat);
  at::Tensor ids = at::zeros({rows, cols, 3}, options);
  ids.select(2, 1).add_(at::arange(rows, options).unsqueeze(1));
  ids.select(2, 2).add_(at::arange(cols, options).unsqueeze(0));
  return ids.reshape({1, rows * cols, 3}).expand({batch, rows * cols, 3}).contiguous();
}

torch::Tensor TextIds(int64_t batch, int64_t txt_len) {
  RequireAtLeast("batch", batch, 1);
  RequireAtLeast("txt_len", txt_len, 1);
  return at::zeros({batch, txt_len, 3}, at::TensorOptions().dtype(at::kFloat));
}

}  // namespace streamdit::engine
