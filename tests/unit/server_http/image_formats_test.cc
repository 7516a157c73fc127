// HTTP replies in JPEG and WebP: encoded from the PNG's pixels, decoded here by the codecs' own
// decoders (libjpeg-turbo, libwebp) and compared with the PNG's pixels; PNG passes unchanged.
#include "server/http/image_formats.h"

#include <gtest/gtest.h>

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE declared first
#include <jpeglib.h>
// clang-format on
#include <webp/decode.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/image/png_writer.h"
#include "tests/support/png_pixels.h"

namespace streamdit::server {
namespace {

constexpr int kWidth = 96;
constexpr int kHeight = 64;

// A smooth gradient with a soft disc: what lossy codecs keep well, so that a large error means a
// wrong channel order, size or stride rather than compression.
std::vector<uint8_t> Pixels() {
  std::vector<uint8_t> rgb(kWidth * kHeight * 3);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      const double r = std::hypot(x - 48.0, y - 32.0);
      uint8_t* p = &rgb[(y * kWidth + x) * 3];
      p[0] = static_cast<uint8_t>(255.0 * x / (kWidth - 1));
      p[1] = static_cast<uint8_t>(255.0 * y / (kHeight - 1));
      p[2] = static_cast<uint8_t>(255.0 / (1.0 + std::exp((r - 20.0) / 4.0)));
    }
  }
  return rgb;
}

std::string Png() {
  const std::vector<uint8_t> rgb = Pixels();
  return engine::EncodePng(rgb.data(), kWidth, kHeight, {{"parameters", "test"}});
}

std::vector<uint8_t> DecodeJpeg(const std::string& bytes, int* width, int* height) {
  jpeg_decompress_struct decompress{};
  jpeg_error_mgr errors{};
  decompress.err = jpeg_std_error(&errors);
  jpeg_create_decompress(&decompress);
  jpeg_mem_src(&decompress, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  jpeg_read_header(&decompress, TRUE);
  decompress.out_color_space = JCS_RGB;
  jpeg_start_decompress(&decompress);
  *width = static_cast<int>(decompress.output_width);
  *height = static_cast<int>(decompress.output_height);
  std::vector<uint8_t> rgb(static_cast<std::size_t>(*width) * *height * 3);
  while (decompress.output_scanline < decompress.output_height) {
    JSAMPROW row = rgb.data() + static_cast<std::size_t>(decompress.output_scanline) * *width * 3;
    jpeg_read_scanlines(&decompress, &row, 1);
  }
  jpeg_finish_decompress(&decompress);
  jpeg_destroy_decompress(&decompress);
  return rgb;
}

std::vector<uint8_t> DecodeWebp(const std::string& bytes, int* width, int* height) {
  uint8_t* rgb =
      WebPDecodeRGB(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), width, height);
  if (rgb == nullptr) return {};
  std::vector<uint8_t> out(rgb, rgb + static_cast<std::size_t>(*width) * *height * 3);
  WebPFree(rgb);
  return out;
}

double MeanAbsoluteError(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 1e9;
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(a.size());
}

TEST(ImageFormats, PngPassesThroughByteForByte) {
  const std::string png = Png();
  absl::StatusOr<std::string> out = EncodeImage(png, ImageFormat::kPng, 10);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, png);
}

TEST(ImageFormats, JpegDecodesToThePngsPixels) {
  const std::string png = Png();
  ASSERT_EQ(test_support::DecodeRgb8(png), Pixels());
  absl::StatusOr<std::string> best = EncodeImage(png, ImageFormat::kJpeg, 100);
  absl::StatusOr<std::string> small = EncodeImage(png, ImageFormat::kJpeg, 10);
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(best->substr(0, 3), "\xFF\xD8\xFF");
  int width = 0, height = 0;
  const std::vector<uint8_t> decoded = DecodeJpeg(*best, &width, &height);
  EXPECT_EQ(width, kWidth);
  EXPECT_EQ(height, kHeight);
  EXPECT_LT(MeanAbsoluteError(decoded, Pixels()), 2.0);
  // The quality is the request's: lower quality, fewer bytes, more error.
  EXPECT_LT(small->size(), best->size());
  const std::vector<uint8_t> coarse = DecodeJpeg(*small, &width, &height);
  EXPECT_GT(MeanAbsoluteError(coarse, Pixels()), MeanAbsoluteError(decoded, Pixels()));
}

TEST(ImageFormats, WebpDecodesToThePngsPixels) {
  const std::string png = Png();
  absl::StatusOr<std::string> best = EncodeImage(png, ImageFormat::kWebp, 100);
  absl::StatusOr<std::string> small = EncodeImage(png, ImageFormat::kWebp, 10);
  ASSERT_TRUE(best.ok()) << best.status();
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(best->substr(0, 4), "RIFF");
  EXPECT_EQ(best->substr(8, 4), "WEBP");
  int width = 0, height = 0;
  const std::vector<uint8_t> decoded = DecodeWebp(*best, &width, &height);
  EXPECT_EQ(width, kWidth);
  EXPECT_EQ(height, kHeight);
  EXPECT_LT(MeanAbsoluteError(decoded, Pixels()), 3.0);
  EXPECT_LT(small->size(), best->size());
}

TEST(ImageFormats, NamesAndBadInput) {
  EXPECT_EQ(*ParseImageFormat("jpeg"), ImageFormat::kJpeg);
  EXPECT_STREQ(ImageFormatName(ImageFormat::kWebp), "webp");
  const absl::StatusOr<ImageFormat> gif = ParseImageFormat("gif");
  EXPECT_EQ(gif.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(gif.status().message().find("output_format"), std::string::npos);
  EXPECT_EQ(EncodeImage(Png(), ImageFormat::kJpeg, 101).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Not a PNG: an error, not a crash.
  EXPECT_EQ(EncodeImage("not a png", ImageFormat::kWebp, 90).status().code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace streamdit::server
