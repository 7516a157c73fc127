// The bridge between checkpoint bytes and libtorch: a weight as held in the host tier (its storage
// dtype, possibly fp8 codes with a scale) and its conversion to a compute tensor at use.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/dtype.h"

namespace streamdit::engine {

struct StoredTensor {
  // Floating storage (kDouble, kFloat, kHalf, kBFloat16) as itself; fp8 as kByte codes.
  torch::Tensor data;
  DType dtype = DType::kF32;
  // fp8 only: the logical value is decode(code) * scale (per-tensor scale; 1 for fp8 files).
  float scale = 1.0f;

  bool defined() const { return data.defined(); }
  std::vector<int64_t> sizes() const { return data.sizes().vec(); }
  int64_t nbytes() const { return data.defined() ? data.numel() * data.element_size() : 0; }
};

// Zero-copy, read-only torch view of a tensor's bytes in the mapping (fp8 comes back as kByte).
// The view keeps the mapped file alive (TensorRef::owner).
torch::Tensor ViewTensor(const TensorRef& ref);
// A StoredTensor viewing the mapping (no copy).
StoredTensor ViewStored(const TensorRef& ref);
// The tensor converted to `compute` dtype on `device`; fp8 decoded through the format tables.
torch::Tensor Materialize(const StoredTensor& stored, torch::ScalarType compute,
                          torch::Device device = torch::kCPU);
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
