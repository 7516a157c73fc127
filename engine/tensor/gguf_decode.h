// The codec of GGML block storage (StoredTensor::blocks): decodes a block-quantized weight (Q8_0,
// Q4_K, ...) into the compute dtype, on the device that holds its bytes.
//
// On the CPU, with the bit-exact dequantizers of engine/checkpoint/gguf_dequantize.h: the only
// counted allocation is the result (blocks are decoded straight into it for float32, and through a
// small stack buffer per thread for the other compute dtypes, no float32 copy of the weight), so
// the decode's transient bytes are 0.
// On any other device (CUDA), with the ATen-operation decoder of gguf_decode_aten.h: the same
// bits, decoded a bounded chunk at a time (GgmlAtenDecodeTransientBytes).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "engine/checkpoint/gguf_types.h"

namespace streamdit::engine {

// `bytes`: kByte, on any device, whose contiguous content is the blocks of a tensor of logical
// row-major `shape` (rows of shape.back() elements). Returns a new tensor of `shape` in `compute`
// (a floating type) on the bytes' device. Throws StatusError INVALID_ARGUMENT when the byte count
// does not match the shape (GgmlTensorBytes).
torch::Tensor DecodeGgmlBlocks(const torch::Tensor& bytes, GgmlType type,
                               const std::vector<int64_t>& shape, torch::ScalarType compute);

// Throws StatusError INVALID_ARGUMENT, naming type, shape and byte counts, unless `bytes` is kByte
// with exactly the stored bytes of a `type` tensor of `shape`.
void CheckGgmlBytes(const torch::Tensor& bytes, GgmlType type, const std::vector<int64_t>& shape);

// The view of a block-quantized tensor's bytes as block storage: kByte [rows, row bytes].
std::vector<int64_t> GgmlStorageShape(GgmlType type, const std::vector<int64_t>& shape);

}  // namespace streamdit::engine
