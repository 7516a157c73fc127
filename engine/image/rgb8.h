// Decoded image tensor -> interleaved 8-bit RGB, the way BFL saves images.
//
// BFL (util.py save_image / cli.py): x.clamp(-1, 1); uint8 = (127.5 * (x + 1.0)).byte(), i.e.
// truncated toward zero. diffusers (VaeImageProcessor.postprocess / numpy_to_pil) instead rounds:
// round(255 * clamp(x / 2 + 0.5, 0, 1)). The two differ by at most 1 LSB and in about half of
// the pixels (e.g. x = 0 -> 127 BFL, 128 diffusers). We follow BFL, the reference implementation
// of FLUX, so our PNGs are pixel-comparable with its outputs before its invisible watermark.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace streamdit::engine {

// `image` [3, H, W], floating, any device, nominal range [-1, 1]. Values are clamped first; NaN
// maps to 0 (black) rather than an undefined conversion. Returns H*W*3 bytes, row-major RGB.
// Throws StatusError INVALID_ARGUMENT for other shapes or a non-floating tensor.
std::vector<uint8_t> ImageToRgb8(const torch::Tensor& image);

}  // namespace streamdit::engine
