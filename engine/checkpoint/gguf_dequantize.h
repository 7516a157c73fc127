// Dequantization of GGML blocks to float32, bit-exact with ggml's reference decoders
// (dequantize_row_* in ggml-quants.c) as gguf-py's numpy ports compute them
// (gguf.quants.dequantize, the reference tests/unit/checkpoint/gguf_dequantize_test.cc compares
// every output bit against): each output is the same float32 expression evaluated with the same
// rounding, e.g. Q4_1's y = d * q + m as a rounded product then a rounded sum (gguf_dequantize.cc
// is compiled without FMA contraction so that no compiler flag fuses them). fp16 scales are widened
// exactly: normals, subnormals, signed zeros and infinities keep their values and a NaN stays a NaN
// (payload kept).
//
// Block layouts are in gguf_dequantize.cc; geometry (elements and bytes per block) in
// gguf_types.h. Input bytes may have any alignment and are read as little-endian.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/checkpoint/gguf_types.h"

namespace streamdit::engine {

// The float32 value of an IEEE binary16 bit pattern, exactly (the conversion is lossless).
float HalfToFloat(uint16_t bits);
// The float32 value of a bfloat16 bit pattern (its upper 16 bits).
float BFloat16ToFloat(uint16_t bits);

// Decodes `block_count` blocks of `type` starting at `blocks` (block_count * GgmlBlockBytes(type)
// bytes) into `out` (block_count * GgmlBlockSize(type) floats), in storage order. A negative
// block_count is INVALID_ARGUMENT; `blocks` and `out` must not overlap.
void DequantizeBlocks(GgmlType type, const uint8_t* blocks, int64_t block_count, float* out);
// The same into a new vector.
std::vector<float> DequantizeBlocks(GgmlType type, const uint8_t* blocks, int64_t block_count);

}  // namespace streamdit::engine
