// PNG encoding of 8-bit RGB images with text metadata (libspng).
//
// Generation settings go into a text chunk with keyword "parameters", the way AUTOMATIC1111-style
// tools record them ("prompt\nSteps: 4, Seed: 42, Guidance: 3.5, Size: 512x512, Model: demo"), so
// that common image viewers and web UIs show them. Like PIL's PngInfo.add_text (which those tools
// use), a value representable in Latin-1 is written as tEXt, anything else (characters beyond
// U+00FF, tabs, carriage returns, other control characters) as an uncompressed UTF-8 iTXt chunk.
//
// The bytes are a pure function of the inputs (no time chunk, fixed zlib settings), so equal
// requests give equal files.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace streamdit::engine {

inline constexpr const char* kPngParametersKeyword = "parameters";

// `rgb`: width*height*3 bytes, row-major. `text_chunks`: keyword -> UTF-8 value, written in
// keyword order. Keywords must be 1-79 printable ASCII characters without leading, trailing or
// consecutive spaces; values must be non-empty valid UTF-8.
// Throws StatusError INVALID_ARGUMENT naming the bad field; INTERNAL if libspng fails.
std::string EncodePng(const uint8_t* rgb, int width, int height,
                      const std::map<std::string, std::string>& text_chunks);

}  // namespace streamdit::engine
