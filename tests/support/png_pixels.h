// Decodes a PNG to RGB8 with libspng (independent of the server's encoder path) and compares two
// images pixel by pixel: a batched image may differ from the one made alone by a few float ulps,
// which moves a pixel by at most one level where the value sits on a rounding boundary.
#pragma once

#include <spng.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace streamdit::test_support {

inline std::vector<uint8_t> DecodeRgb8(const std::string& png) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
  if (spng_set_png_buffer(ctx.get(), png.data(), png.size()) != 0) {
    throw std::runtime_error("not a PNG");
  }
  size_t size = 0;
  if (spng_decoded_image_size(ctx.get(), SPNG_FMT_RGB8, &size) != 0) {
    throw std::runtime_error("undecodable PNG");
  }
  std::vector<uint8_t> pixels(size);
  if (spng_decode_image(ctx.get(), pixels.data(), size, SPNG_FMT_RGB8, 0) != 0) {
    throw std::runtime_error("undecodable PNG");
  }
  return pixels;
}

struct PixelDifference {
  int max_level = 0;  // largest |a - b| over all channels
  double share = 0;   // share of channels that differ at all
};

inline PixelDifference ComparePixels(const std::string& png_a, const std::string& png_b) {
  const std::vector<uint8_t> a = DecodeRgb8(png_a);
  const std::vector<uint8_t> b = DecodeRgb8(png_b);
  if (a.size() != b.size()) throw std::runtime_error("images of different sizes");
  PixelDifference difference;
  int64_t differing = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const int level = std::abs(int(a[i]) - int(b[i]));
    if (level > 0) ++differing;
    if (level > difference.max_level) difference.max_level = level;
  }
  difference.share = a.empty() ? 0 : double(differing) / double(a.size());
  return difference;
}

}  // namespace streamdit::test_support
