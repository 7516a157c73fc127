// The codec of GGML block storage built from ATen tensor operations only (views and slices of the
// block bytes, integer shifts and masks, float32 products and sums), so that it runs on any device
// ATen has kernels for: it is how GGML blocks decode on a CUDA device (DecodeGgmlBlocks sends bytes
// that are not on the CPU here; the CPU keeps its own faster decoder).
//
// Bits: the result equals the CPU decoder's (engine/checkpoint/gguf_dequantize.h), bit for bit, for
// every supported type and every scale (fp16 max, subnormals, zeros, negatives): each output is the
// same float32 expression in the same order, one rounding per ATen operation (e.g. Q4_K's
// (d * scale) * q - (dmin * min): the scale products first, then the product with the quant, then
// the difference); a compute dtype other than float32 gets the float32 result rounded once.
//
// Memory: blocks are decoded kGgmlAtenChunkElements elements at a time, so the intermediates (the
// chunk's quants and scales, and its float32 values when the compute dtype is not float32) are
// bounded by a chunk, whatever the tensor's size: GgmlAtenDecodeTransientBytes states the bound,
// and the memory plans count it (DecodeTransientBytes, engine/tensor/stored_tensor.h).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "engine/checkpoint/gguf_types.h"

namespace streamdit::engine {

// Elements decoded at a time: a multiple of every block size (32 and 256). 4 MiB of float32.
inline constexpr int64_t kGgmlAtenChunkElements = int64_t{1} << 20;

// `bytes`: kByte on any device, the blocks of a tensor of logical row-major `shape` (as
// DecodeGgmlBlocks takes them; contiguous, or copied to be so). Returns a new tensor of `shape` in
// `compute` (a floating type) on the bytes' device. Throws StatusError INVALID_ARGUMENT when the
// byte count does not match the shape.
torch::Tensor DecodeGgmlBlocksAten(const torch::Tensor& bytes, GgmlType type,
                                   const std::vector<int64_t>& shape, torch::ScalarType compute);

// The most bytes DecodeGgmlBlocksAten allocates on `device` besides its result (and frees before it
// returns) for `numel` elements of `type`, counted as `device`'s allocator counts them
// (AllocationBytes). With C = min(numel, kGgmlAtenChunkElements) elements per chunk:
//   C float32 values (only when `compute` is not float32)
//   + 2 C bytes of quants (low and high bits)
//   + at most 8 live scale tensors of at most C / 4 bytes each (K-quants hold 16 float32 scales
//     per 256 elements; a 1-element scalar operand is one of them).
// 0 for F32, F16 and BF16 (a conversion straight into the result).
int64_t GgmlAtenDecodeTransientBytes(GgmlType type, int64_t numel, torch::ScalarType compute,
                                     torch::Device device);

}  // namespace streamdit::engine
