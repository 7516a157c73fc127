// PNG encoding: decoded back with libspng, pixels and text chunks must round-trip.

#include "engine/image/png_writer.h"

#include <gtest/gtest.h>
#include <spng.h>

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

struct DecodedPng {
  uint32_t width = 0;
  uint32_t height = 0;
  uint8_t color_type = 0;
  uint8_t bit_depth = 0;
  std::vector<uint8_t> rgb;
  std::map<std::string, std::string> text;  // keyword -> value as stored (Latin-1 or UTF-8)
  std::map<std::string, int> text_type;     // keyword -> SPNG_TEXT / SPNG_ITXT
};

DecodedPng Decode(const std::string& png) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
  EXPECT_EQ(spng_set_png_buffer(ctx.get(), png.data(), png.size()), 0);
  DecodedPng out;
  spng_ihdr ihdr{};
  EXPECT_EQ(spng_get_ihdr(ctx.get(), &ihdr), 0);
  out.width = ihdr.width;
  out.height = ihdr.height;
  out.color_type = ihdr.color_type;
  out.bit_depth = ihdr.bit_depth;
  std::size_t size = 0;
  EXPECT_EQ(spng_decoded_image_size(ctx.get(), SPNG_FMT_RGB8, &size), 0);
  out.rgb.resize(size);
  EXPECT_EQ(spng_decode_image(ctx.get(), out.rgb.data(), size, SPNG_FMT_RGB8, 0), 0);
  uint32_t count = 0;
  if (spng_get_text(ctx.get(), nullptr, &count) == 0 && count > 0) {
    std::vector<spng_text> chunks(count);
    EXPECT_EQ(spng_get_text(ctx.get(), chunks.data(), &count), 0);
    for (const spng_text& chunk : chunks) {
      out.text[chunk.keyword] = std::string(chunk.text, chunk.length);
      out.text_type[chunk.keyword] = chunk.type;
    }
  }
  return out;
}

std::vector<uint8_t> Gradient(int width, int height) {
  std::vector<uint8_t> rgb(static_cast<std::size_t>(width) * height * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &rgb[(static_cast<std::size_t>(y) * width + x) * 3];
      p[0] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
      p[1] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
      p[2] = static_cast<uint8_t>((x * 31 + y * 17) % 256);
    }
  }
  return rgb;
}

const char* kParameters =
    "a photo of a cat, 35mm\nSteps: 4, Seed: 42, Guidance: 3.5, Size: 512x512, Model: demo";

TEST(PngWriterTest, PixelsAndParametersRoundTrip) {
  const int width = 37, height = 23;  // odd sizes: no row padding assumptions
  const std::vector<uint8_t> rgb = Gradient(width, height);
  const std::string png =
      EncodePng(rgb.data(), width, height, {{kPngParametersKeyword, kParameters}});
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const DecodedPng decoded = Decode(png);
  EXPECT_EQ(decoded.width, 37u);
  EXPECT_EQ(decoded.height, 23u);
  EXPECT_EQ(decoded.color_type, SPNG_COLOR_TYPE_TRUECOLOR);
  EXPECT_EQ(decoded.bit_depth, 8);
  EXPECT_EQ(decoded.rgb, rgb);
  ASSERT_EQ(decoded.text.count("parameters"), 1u);
  EXPECT_EQ(decoded.text.at("parameters"), kParameters);
  EXPECT_EQ(decoded.text_type.at("parameters"), SPNG_TEXT);
  // The chunk is a plain tEXt chunk: keyword, NUL, text, as A1111-style readers expect.
  EXPECT_NE(png.find(std::string("tEXtparameters\0a photo of a cat", 30)), std::string::npos);
}

TEST(PngWriterTest, Latin1ValuesUseTextAndOthersUseInternationalText) {
  const std::vector<uint8_t> rgb = Gradient(4, 3);
  const std::string latin1_prompt = "caf\xC3\xA9 au lait";  // "café" in UTF-8
  const std::string cjk_prompt = "\xE7\x8C\xAB\nSteps: 4";  // U+732B, beyond Latin-1
  const std::string tab_prompt = "tab\there";               // tabs are not tEXt-legal
  const DecodedPng decoded = Decode(EncodePng(
      rgb.data(), 4, 3,
      {{"parameters", cjk_prompt}, {"Comment", latin1_prompt}, {"Description", tab_prompt}}));
  EXPECT_EQ(decoded.text_type.at("Comment"), SPNG_TEXT);
  EXPECT_EQ(decoded.text.at("Comment"), "caf\xE9 au lait");  // stored as Latin-1
  EXPECT_EQ(decoded.text_type.at("parameters"), SPNG_ITXT);
  EXPECT_EQ(decoded.text.at("parameters"), cjk_prompt);
  EXPECT_EQ(decoded.text_type.at("Description"), SPNG_ITXT);
  EXPECT_EQ(decoded.text.at("Description"), tab_prompt);
  EXPECT_EQ(decoded.rgb, rgb);
}

TEST(PngWriterTest, SameInputsGiveSameBytes) {
  const std::vector<uint8_t> rgb = Gradient(64, 48);
  const std::map<std::string, std::string> text = {{"parameters", kParameters}};
  const std::string a = EncodePng(rgb.data(), 64, 48, text);
  const std::string b = EncodePng(rgb.data(), 64, 48, text);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.find("tIME"), std::string::npos);  // no timestamp that would break reproducibility
}

TEST(PngWriterTest, NoTextChunksIsAPlainImage) {
  const std::vector<uint8_t> rgb = Gradient(1, 1);
  const DecodedPng decoded = Decode(EncodePng(rgb.data(), 1, 1, {}));
  EXPECT_EQ(decoded.rgb, rgb);
  EXPECT_TRUE(decoded.text.empty());
}

TEST(PngWriterTest, RejectsBadArguments) {
  const std::vector<uint8_t> rgb = Gradient(2, 2);
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 0, 2, {}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, -1, {}));
  EXPECT_INVALID_ARGUMENT(EncodePng(nullptr, 2, 2, {}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{"", "x"}}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{" lead", "x"}}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{"two  spaces", "x"}}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{std::string(80, 'k'), "x"}}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{"parameters", ""}}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{"parameters", "bad \xC3"}}));
  EXPECT_INVALID_ARGUMENT(EncodePng(rgb.data(), 2, 2, {{"parameters", "\xC0\x80"}}));
  EXPECT_NO_THROW(EncodePng(rgb.data(), 2, 2, {{std::string(79, 'k'), "x"}}));
}

}  // namespace
}  // namespace streamdit::engine
