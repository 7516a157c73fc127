// The image formats an HTTP reply may carry (OpenAI's `output_format`). The pipeline writes PNG
// (with its parameters chunk); JPEG (libjpeg-turbo) and WebP (libwebp) are encoded from the PNG's
// pixels at the quality the request gives (OpenAI's `output_compression`, 0-100, default 100).
// PNG passes through untouched, so its bytes stay those the gRPC API returns.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace streamdit::server {

enum class ImageFormat { kPng, kJpeg, kWebp };

// "png", "jpeg", "webp": OpenAI's names (and the reply's `output_format`).
const char* ImageFormatName(ImageFormat format);

// INVALID_ARGUMENT naming `output_format` for any other name.
absl::StatusOr<ImageFormat> ParseImageFormat(const std::string& name);

// `png` in `format`. `quality` in [0, 100] applies to JPEG and WebP (both lossy; 100 is their
// best). INTERNAL when `png` is not an 8-bit RGB PNG or a codec fails.
absl::StatusOr<std::string> EncodeImage(const std::string& png, ImageFormat format, int quality);

}  // namespace streamdit::server
