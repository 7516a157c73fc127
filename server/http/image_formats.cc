#include "server/http/image_formats.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE declared first
#include <jpeglib.h>
// clang-format on
#include <spng.h>
#include <webp/encode.h>

#include <csetjmp>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace streamdit::server {
namespace {

struct Rgb8 {
  std::vector<uint8_t> pixels;  // row-major, 3 bytes per pixel
  uint32_t width = 0;
  uint32_t height = 0;
};

absl::StatusOr<Rgb8> DecodePng(const std::string& png) {
  std::unique_ptr<spng_ctx, decltype(&spng_ctx_free)> context(spng_ctx_new(0), &spng_ctx_free);
  if (!context) return absl::InternalError("cannot create a PNG decoder");
  if (int error = spng_set_png_buffer(context.get(), png.data(), png.size()); error != 0) {
    return absl::InternalError(std::string("PNG: ") + spng_strerror(error));
  }
  spng_ihdr header{};
  if (int error = spng_get_ihdr(context.get(), &header); error != 0) {
    return absl::InternalError(std::string("PNG: ") + spng_strerror(error));
  }
  std::size_t size = 0;
  if (int error = spng_decoded_image_size(context.get(), SPNG_FMT_RGB8, &size); error != 0) {
    return absl::InternalError(std::string("PNG: ") + spng_strerror(error));
  }
  Rgb8 image;
  image.width = header.width;
  image.height = header.height;
  image.pixels.resize(size);
  if (int error = spng_decode_image(context.get(), image.pixels.data(), size, SPNG_FMT_RGB8, 0);
      error != 0) {
    return absl::InternalError(std::string("PNG: ") + spng_strerror(error));
  }
  return image;
}

// libjpeg's default error handler calls exit(); this one jumps back to the encoder instead, which
// then frees what libjpeg allocated and reports the message.
struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void OnJpegError(j_common_ptr compress) {
  auto* errors = reinterpret_cast<JpegErrors*>(compress->err);
  errors->manager.format_message(compress, errors->message);
  std::longjmp(errors->jump, 1);
}

// C-style on purpose: nothing with a destructor lives across setjmp. Returns false with
// `errors->message` set; on success `*buffer` (malloc'ed by libjpeg) holds `*size` bytes.
bool CompressJpeg(const Rgb8& image, int quality, JpegErrors* errors, unsigned char** buffer,
                  unsigned long* size) {  // NOLINT(runtime/int): libjpeg's type
  jpeg_compress_struct compress{};
  compress.err = jpeg_std_error(&errors->manager);
  errors->manager.error_exit = OnJpegError;
  if (setjmp(errors->jump) != 0) {
    jpeg_destroy_compress(&compress);
    return false;
  }
  jpeg_create_compress(&compress);
  jpeg_mem_dest(&compress, buffer, size);
  compress.image_width = image.width;
  compress.image_height = image.height;
  compress.input_components = 3;
  compress.in_color_space = JCS_RGB;
  jpeg_set_defaults(&compress);
  jpeg_set_quality(&compress, quality, TRUE);
  jpeg_start_compress(&compress, TRUE);
  const std::size_t stride = static_cast<std::size_t>(image.width) * 3;
  while (compress.next_scanline < compress.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image.pixels.data() + compress.next_scanline * stride);
    jpeg_write_scanlines(&compress, &row, 1);
  }
  jpeg_finish_compress(&compress);
  jpeg_destroy_compress(&compress);
  return true;
}

absl::StatusOr<std::string> EncodeJpeg(const Rgb8& image, int quality) {
  JpegErrors errors{};
  unsigned char* buffer = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): libjpeg's type
  const bool ok = CompressJpeg(image, quality, &errors, &buffer, &size);
  std::string out;
  if (ok) out.assign(reinterpret_cast<const char*>(buffer), size);
  std::free(buffer);
  if (!ok) return absl::InternalError(std::string("JPEG encoding failed: ") + errors.message);
  return out;
}

absl::StatusOr<std::string> EncodeWebp(const Rgb8& image, int quality) {
  uint8_t* output = nullptr;
  const std::size_t size = WebPEncodeRGB(
      image.pixels.data(), static_cast<int>(image.width), static_cast<int>(image.height),
      static_cast<int>(image.width) * 3, static_cast<float>(quality), &output);
  if (size == 0) return absl::InternalError("WebP encoding failed");
  std::string out(reinterpret_cast<const char*>(output), size);
  WebPFree(output);
  return out;
}

}  // namespace

const char* ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kWebp:
      return "webp";
    case ImageFormat::kPng:
      break;
  }
  return "png";
}

absl::StatusOr<ImageFormat> ParseImageFormat(const std::string& name) {
  for (ImageFormat format : {ImageFormat::kPng, ImageFormat::kJpeg, ImageFormat::kWebp}) {
    if (name == ImageFormatName(format)) return format;
  }
  return absl::InvalidArgumentError("output_format must be \"png\", \"jpeg\" or \"webp\", got \"" +
                                    name + "\"");
}

absl::StatusOr<std::string> EncodeImage(const std::string& png, ImageFormat format, int quality) {
  if (format == ImageFormat::kPng) return png;
  if (quality < 0 || quality > 100) {
    return absl::InvalidArgumentError("output_compression must be in [0, 100], got " +
                                      std::to_string(quality));
  }
  absl::StatusOr<Rgb8> image = DecodePng(png);
  if (!image.ok()) return image.status();
  if (image->width == 0 || image->height == 0 || image->width > 16383 || image->height > 16383) {
    // Both formats' limits (WebP's is 16383 per side; JPEG's 65500).
    return absl::InternalError("image size " + std::to_string(image->width) + "x" +
                               std::to_string(image->height) + " cannot be encoded");
  }
  return format == ImageFormat::kJpeg ? EncodeJpeg(*image, quality) : EncodeWebp(*image, quality);
}

}  // namespace streamdit::server
