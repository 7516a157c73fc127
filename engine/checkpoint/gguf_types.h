// The GGML tensor types that GGUF checkpoints (llama.cpp / ComfyUI-GGUF FLUX files) store, with
// their on-disk type ids and block geometry. Every type is a sequence of fixed-size blocks: a block
// holds `block_size` elements in `block_bytes` bytes (plain F32/F16/BF16 are blocks of one
// element), and a block never spans two rows, so a row's element count (ggml's ne[0], the
// fastest-varying dimension) must be a multiple of the block size.
//
// Only the types this engine can dequantize are listed (gguf_dequantize.h); the other ids ggml
// defines (Q8_1, Q8_K, the IQ*, TQ*, MXFP4, integer and F64 types) are rejected by name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamdit::engine {

// Values are ggml's `enum ggml_type` ids, the numbers a GGUF tensor info stores.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30,
};

// Every supported type, in id order (for tests and tables).
const std::vector<GgmlType>& SupportedGgmlTypes();

// ggml's spelling: "F32", "Q4_0", "Q6_K", "BF16", ...
std::string_view GgmlTypeName(GgmlType type);
// Elements per block: 1 for F32/F16/BF16, 32 for Q4_0..Q8_0, 256 (QK_K) for the K-quants.
int64_t GgmlBlockSize(GgmlType type);
// Bytes per block (Q4_0: 18, Q4_K: 144, F16: 2, ...).
int64_t GgmlBlockBytes(GgmlType type);

// The supported type with ggml id `id`, or nullopt for an id that is unknown or not supported.
std::optional<GgmlType> FindGgmlType(uint32_t id);
// Why `id` is not accepted, for error messages: "GGML type id 16 (IQ2_XXS) is not supported
// (supported: F32, F16, ...)" or "unknown GGML type id 99 (supported: ...)".
std::string UnsupportedGgmlTypeMessage(uint32_t id);
// FindGgmlType, or throws StatusError INVALID_ARGUMENT with UnsupportedGgmlTypeMessage. (The GGUF
// reader reports the same defect in a file as CheckpointError DATA_LOSS naming file and tensor.)
GgmlType GgmlTypeFromId(uint32_t id);

// Stored bytes of a tensor of `type` whose ggml dimensions are `dims` (dims[0] is the row, the
// fastest-varying dimension): numel / block_size * block_bytes. Throws StatusError
// INVALID_ARGUMENT naming the type and the numbers when a dimension is negative, dims[0] is not a
// multiple of the block size, or the element count or the byte count overflows int64.
uint64_t GgmlTensorBytes(GgmlType type, const std::vector<int64_t>& dims);

}  // namespace streamdit::engine
