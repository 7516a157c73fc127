#include "engine/image/rgb8.h"

#include <ATen/ATen.h>

#include <cstring>

#include "engine/status/status_error.h"

namespace streamdit::engine {

std::vector<uint8_t> ImageToRgb8(const torch::Tensor& image) {
  if (!image.defined() || image.dim() != 3 || image.size(0) != 3 || !image.is_floating_point()) {
    throw InvalidArgument("image must be a floating-point [3, H, W] tensor");
  }
  // float32 like BFL (its decode output is float32 before save_image).
  torch::Tensor x = image.to(torch::kCPU, torch::kFloat).nan_to_num(-1.0).clamp(-1.0, 1.0);
  // (x + 1) * 127.5 in [0, 255]; the uint8 cast truncates toward zero, as torch's byte() does.
  const torch::Tensor bytes = ((x + 1.0) * 127.5).to(torch::kByte).permute({1, 2, 0}).contiguous();
  std::vector<uint8_t> rgb(static_cast<std::size_t>(bytes.numel()));
  if (!rgb.empty()) std::memcpy(rgb.data(), bytes.data_ptr<uint8_t>(), rgb.size());
  return rgb;
}

}  // namespace streamdit::engine
