// The bridge between checkpoint bytes and libtorch: a weight as held in the host tier in its stored
// format, and its conversion to a compute tensor at use. A stored format is either
//   an element dtype (f64/f32/f16/bf16 as themselves; fp8 as byte codes with a per-tensor scale),
//   or a GGML block type (Q8_0, Q4_K, ...: `block_size` elements in `block_bytes` bytes, blocks
//   along the rows), whose bytes are kept as they are: nbytes = elements x block_bytes /
//   block_size, so a 4.5-bit weight is held, copied and planned as 4.5 bits.
// Each format has one codec (Materialize dispatches on the format) that decodes into the compute
// dtype on the tensor's device, and states the counted bytes its decode allocates besides its
// result (DecodeTransientBytes), so that memory plans stay exact.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/dtype.h"
#include "engine/checkpoint/gguf_types.h"

namespace streamdit::engine {

struct StoredTensor {
  // Element storage: the elements in the logical shape (kDouble, kFloat, kHalf, kBFloat16 as
  // themselves; fp8 as kByte codes). Block storage: kByte [rows, row bytes], rows being the
  // product of the logical dimensions but the last (a block never spans two rows).
  torch::Tensor data;
  DType dtype = DType::kF32;  // element storage's dtype; kU8 for block storage
  // fp8 only: the logical value is decode(code) * scale (per-tensor scale; 1 for fp8 files).
  float scale = 1.0f;
  // Block storage only: the GGML block type and the logical row-major shape. (Plain GGUF types,
  // F32/F16/BF16, are element storage.)
  std::optional<GgmlType> blocks;
  std::vector<int64_t> shape;

  bool defined() const { return data.defined(); }
  // The logical shape, whatever the storage.
  std::vector<int64_t> sizes() const { return blocks ? shape : data.sizes().vec(); }
  int64_t dim() const { return static_cast<int64_t>(sizes().size()); }
  int64_t size(int64_t d) const { return sizes().at(static_cast<std::size_t>(d)); }
  int64_t numel() const;  // logical elements
  // Stored bytes (what the host tier holds and a copy moves).
  int64_t nbytes() const { return data.defined() ? data.numel() * data.element_size() : 0; }
};

// Zero-copy, read-only torch view of a tensor's bytes in the mapping (fp8 comes back as kByte).
// The view keeps the mapped file alive (TensorRef::owner).
torch::Tensor ViewTensor(const TensorRef& ref);
// A StoredTensor viewing the mapping (no copy); a GGUF block-quantized tensor in block storage.
StoredTensor ViewStored(const TensorRef& ref);
// The tensor converted to `compute` dtype on `device`; fp8 decoded through the format tables,
// GGML blocks through their dequantizers on `device` (engine/tensor/gguf_decode.h). May return
// `stored.data` itself when it already is `compute` on `device` (no copy).
torch::Tensor Materialize(const StoredTensor& stored, torch::ScalarType compute,
                          torch::Device device);
// Whether Materialize makes a new tensor (a decode or a conversion) rather than returning the
// stored one.
bool MaterializeCopies(const StoredTensor& stored, torch::ScalarType compute);
// Counted bytes Materialize(stored, compute, device) allocates besides its result and frees before
// it returns: 0 on the CPU (every codec writes into its result); on a device, codes and blocks not
// yet there are copied first, f64 scales fp8 via float32, GGML decodes a chunk at a time.
int64_t DecodeTransientBytes(const StoredTensor& stored, torch::ScalarType compute,
                             torch::Device device);
// Converts a floating tensor to the given storage dtype, copying into host-tier memory
// (engine/streaming/host_tensor.h: outside the device meter, with no counted intermediate for
// contiguous CPU input). fp8 e4m3: per-tensor scale so that the largest finite magnitude maps to
// 448; larger values and infinities saturate to +-448 * scale, so a finite or infinite input never
// becomes NaN (NaN stays NaN).
StoredTensor ToStorage(const torch::Tensor& value, DType storage);

torch::ScalarType ToScalarType(DType dtype);  // fp8 -> kByte
DType FromScalarType(torch::ScalarType type);

// Adds a torch tensor to a writer in the given storage dtype (fp8 with scale 1, saturating).
void AddTensor(SafetensorsWriter& writer, const std::string& name, const torch::Tensor& value,
               DType storage);

}  // namespace streamdit::engine
