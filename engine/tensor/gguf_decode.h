// The codec of GGML block storage (StoredTensor::blocks): decodes a block-quantized weight (Q8_0,
// Q4_K, ...) into the compute dtype, with the bit-exact dequantizers of
// engine/checkpoint/gguf_dequantize.h. The only counted allocation is the result: blocks are
// decoded straight into it for float32, and through a small stack buffer per thread for the other
// compute dtypes (no float32 copy of the weight), so the decode's transient bytes are 0.
//
// CPU only for now: a device needs kernels of its own (FailedPrecondition names the device).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "engine/checkpoint/gguf_types.h"

namespace streamdit::engine {

// `bytes`: kByte, on the CPU, whose contiguous content is the blocks of a tensor of logical
// row-major `shape` (rows of shape.back() elements). Returns a new tensor of `shape` in `compute`
// (a floating type). Throws StatusError INVALID_ARGUMENT when the byte count does not match the
// shape (GgmlTensorBytes), FAILED_PRECONDITION for a tensor on another device.
torch::Tensor DecodeGgmlBlocks(const torch::Tensor& bytes, GgmlType type,
                               const std::vector<int64_t>& shape, torch::ScalarType compute);

// The view of a block-quantized tensor's bytes as block storage: kByte [rows, row bytes].
std::vector<int64_t> GgmlStorageShape(GgmlType type, const std::vector<int64_t>& shape);

}  // namespace streamdit::engine
