#include "engine/image/png_writer.h"

#include <spng.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

constexpr std::size_t kMaxKeywordLength = 79;  // PNG spec, tEXt/iTXt keyword

struct ContextDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};

void Check(int error, const char* what) {
  if (error != 0) {
    throw Internal(std::string("PNG encoding failed at ") + what + ": " + spng_strerror(error));
  }
}

void ValidateKeyword(const std::string& keyword) {
  bool valid = !keyword.empty() && keyword.size() <= kMaxKeywordLength && keyword.front() != ' ' &&
               keyword.back() != ' ' && keyword.find("  ") == std::string::npos;
  for (char c : keyword) valid = valid && c >= 32 && c <= 126;
  if (!valid) {
    throw InvalidArgument("PNG text keyword '" + keyword +
                          "' must be 1-79 printable ASCII characters without leading, "
                          "trailing or consecutive spaces");
  }
}

// Decodes UTF-8 into code points; nullopt when malformed (overlong forms, surrogates and values
// past U+10FFFF included).
std::optional<std::vector<uint32_t>> DecodeUtf8(const std::string& text) {
  std::vector<uint32_t> points;
  std::size_t i = 0;
  while (i < text.size()) {
    const uint8_t lead = static_cast<uint8_t>(text[i]);
    int extra;
    uint32_t point;
    if (lead < 0x80) {
      extra = 0;
      point = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      point = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      point = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      point = lead & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + extra >= text.size()) return std::nullopt;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const uint8_t next = static_cast<uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      point = (point << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (point < kMinForLength[extra] || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF)) {
      return std::nullopt;
    }
    points.push_back(point);
    i += 1 + extra;
  }
  return points;
}

// The Latin-1 bytes of `points` if every one is allowed in tEXt (printable Latin-1 or line feed,
// as libspng checks), else nullopt.
std::optional<std::string> ToLatin1Text(const std::vector<uint32_t>& points) {
  std::string latin1;
  for (uint32_t p : points) {
    const bool allowed = p == '\n' || (p >= 32 && p <= 126) || (p >= 161 && p <= 255);
    if (!allowed) return std::nullopt;
    latin1.push_back(static_cast<char>(p));
  }
  return latin1;
}

}  // namespace

std::string EncodePng(const uint8_t* rgb, int width, int height,
                      const std::map<std::string, std::string>& text_chunks) {
  if (width < 1) throw InvalidArgument("width must be >= 1, got " + std::to_string(width));
  if (height < 1) {
    throw InvalidArgument("height must be >= 1, got " + std::to_string(height));
  }
  if (rgb == nullptr) throw InvalidArgument("rgb must not be null");

  // Chunk payloads must outlive the encoder (libspng keeps pointers).
  std::vector<std::string> payloads;
  payloads.reserve(text_chunks.size());
  std::vector<spng_text> chunks(text_chunks.size());
  char empty[] = "";
  std::size_t index = 0;
  for (const auto& [keyword, value] : text_chunks) {
    ValidateKeyword(keyword);
    if (value.empty()) {
      throw InvalidArgument("PNG text value for '" + keyword + "' must not be empty");
    }
    const std::optional<std::vector<uint32_t>> points = DecodeUtf8(value);
    if (!points) {
      throw InvalidArgument("PNG text value for '" + keyword + "' is not valid UTF-8");
    }
    const std::optional<std::string> latin1 = ToLatin1Text(*points);
    spng_text& chunk = chunks[index++];
    std::memset(&chunk, 0, sizeof(chunk));
    std::memcpy(chunk.keyword, keyword.data(), keyword.size());
    if (latin1) {
      chunk.type = SPNG_TEXT;
      payloads.push_back(*latin1);
    } else {
      chunk.type = SPNG_ITXT;
      chunk.compression_flag = 0;
      chunk.compression_method = 0;
      chunk.language_tag = empty;
      chunk.translated_keyword = empty;
      payloads.push_back(value);
    }
    chunk.text = payloads.back().data();
    chunk.length = payloads.back().size();
  }

  std::unique_ptr<spng_ctx, ContextDeleter> ctx(spng_ctx_new(SPNG_CTX_ENCODER));
  if (!ctx) throw Internal("PNG encoding failed: cannot create a libspng context");
  Check(spng_set_option(ctx.get(), SPNG_ENCODE_TO_BUFFER, 1), "SPNG_ENCODE_TO_BUFFER");

  spng_ihdr ihdr{};
  ihdr.width = static_cast<uint32_t>(width);
  ihdr.height = static_cast<uint32_t>(height);
  ihdr.bit_depth = 8;
  ihdr.color_type = SPNG_COLOR_TYPE_TRUECOLOR;
  Check(spng_set_ihdr(ctx.get(), &ihdr), "IHDR");
  if (!chunks.empty()) {
    Check(spng_set_text(ctx.get(), chunks.data(), static_cast<uint32_t>(chunks.size())), "text");
  }

  const std::size_t bytes = static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3;
  Check(spng_encode_image(ctx.get(), rgb, bytes, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), "image");

  std::size_t length = 0;
  int error = 0;
  void* buffer = spng_get_png_buffer(ctx.get(), &length, &error);
  Check(error, "output buffer");
  if (buffer == nullptr) throw Internal("PNG encoding failed: no output buffer");
  // The buffer is ours to free (libspng docs: spng_get_png_buffer transfers ownership).
  std::string png(static_cast<const char*>(buffer), length);
  std::free(buffer);
  return png;
}

}  // namespace streamdit::engine
