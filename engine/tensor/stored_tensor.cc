#include "engine/tensor/stored_tensor.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "engine/checkpoint/fp8.h"

namespace streamdit {

torch::ScalarType ToScalarType(DType dtype) {
  switch (dtype) {
    case DType::kF64:
      return torch::kDouble;
    case DType::kF32:
      return torch::kFloat;
    case DType::kF16:
      return torch::kHalf;
    case DType::kBF16:
      return torch::kBFloat16;
    case DType::kF8E4M3:
    case DType::kF8E5M2:
    case DType::kU8:
      return torch::kByte;
    case DType::kI64:
      return torch::kLong;
    case DType::kI32:
      return torch::kInt;
    case DType::kI16:
      return torch::kShort;
    case DType::kI8:
      return torch::kChar;
    case DType::kBool:
      return torch::kBool;
  }
  throw std::invalid_argument("unknown dtype");
}

DType FromScalarType(torch::ScalarType type) {
  switch (type) {
    case torch::kDouble:
      return DType::kF64;
    case torch::kFloat:
      return DType::kF32;
    case torch::kHalf:
      return DType::kF16;
    case torch::kBFloat16:
      return DType::kBF16;
    case torch::kLong:
      return DType::kI64;
    case torch::kInt:
      return DType::kI32;
    case torch::kShort:
      return DType::kI16;
    case torch::kChar:
      return DType::kI8;
    case torch::kByte:
      return DType::kU8;
    case torch::kBool:
      return DType::kBool;
    default:
      throw std::invalid_argument(std::string("no safetensors dtype for torch type ") +
                                  c10::toString(type));
  }
}

torch::Tensor ViewTensor(const TensorRef& ref) {
  // The mapping is read-only; torch needs a non-const pointer but the tensor is never written
  // (callers copy before mutating: Materialize and ToStorage always produce new tensors).
  auto* data = const_cast<uint8_t*>(ref.file->Data(*ref.info));
  const auto options = torch::TensorOptions().dtype(ToScalarType(ref.info->dtype));
  if (!ref.owner) return torch::from_blob(data, ref.info->shape, options);
  // The view holds the mapping alive: models outlive the Checkpoint objects they were loaded from.
  std::shared_ptr<const void> owner = ref.owner;
  return torch::from_blob(
      data, ref.info->shape, [owner](void*) mutable { owner.reset(); }, options);
}

StoredTensor ViewStored(const TensorRef& ref) {
  StoredTensor stored;
  stored.data = ViewTensor(ref);
  stored.dtype = ref.info->dtype;
  return stored;
}

namespace {

// Decodes fp8 codes to float32 through the 256-entry table, in parallel over chunks.
torch::Tensor DecodeFp8(const torch::Tensor& codes, DType dtype, float scale) {
  torch::Tensor contiguous = codes.contiguous();
  torch::Tensor out = torch::empty(contiguous.sizes(), torch::kFloat);
  const uint8_t* in = contiguous.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const auto& table = dtype == DType::kF8E4M3 ? Fp8E4M3Table() : Fp8E5M2Table();
  at::parallel_for(0, contiguous.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dst[i] = table[in[i]] * scale;
  });
  return out;
}

}  // namespace

torch::Tensor Materialize(const StoredTensor& stored, torch::ScalarType compute,
                          torch::Device device) {
  if (stored.dtype == DType::kF8E4M3 || stored.dtype == DType::kF8E5M2) {
    // On the device the codes travel as bytes (half the bf16 transfer) and are decoded there.
    torch::Tensor codes = stored.data.to(device, /*non_blocking=*/true);
    if (device.is_cpu()) return DecodeFp8(codes, stored.dtype, stored.scale).to(compute);
    const auto& table = stored.dtype == DType::kF8E4M3 ? Fp8E4M3Table() : Fp8E5M2Table();
    torch::Tensor lut = torch::from_blob(const_cast<float*>(table.data()), {256}, torch::kFloat)
                            .to(device)
                            .mul(stored.scale)
                            .to(compute);
    return lut.index_select(0, codes.flatten().to(torch::kLong)).view(codes.sizes());
  }
  return stored.data.to(device, compute, /*non_blocking=*/false, /*copy=*/false);
}

StoredTensor ToStorage(const torch::Tensor& value, DType storage) {
  StoredTensor stored;
  stored.dtype = storage;
  if (storage == DType::kF8E4M3) {
    torch::Tensor source = value.to(torch::kFloat).contiguous();
    float max_abs = source.numel() ? source.abs().max().item<float>() : 0.0f;
    stored.scale = max_abs > 0 && std::isfinite(max_abs) ? max_abs / 448.0f : 1.0f;
    torch::Tensor codes = torch::empty(source.sizes(), torch::kByte);
    const float* in = source.data_ptr<float>();
    uint8_t* out = codes.data_ptr<uint8_t>();
    const float inverse = 1.0f / stored.scale;
    at::parallel_for(0, source.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = EncodeFp8E4M3Saturating(in[i] * inverse);
    });
    stored.data = codes;
    return stored;
  }
  if (storage == DType::kF8E5M2) {
    throw std::invalid_argument("fp8 e5m2 is not supported as a storage dtype; use F8_E4M3");
  }
  stored.data = value.to(ToScalarType(storage)).contiguous().clone();
  return stored;
}

void AddTensor(SafetensorsWriter& writer, const std::string& name, const torch::Tensor& value,
               DType storage) {
  torch::Tensor bytes;
  if (storage == DType::kF8E4M3) {
    // Files store plain e4m3 codes (unit scale): values outside +-448 saturate.
    torch::Tensor source = value.to(torch::kFloat).contiguous();
    bytes = torch::empty(source.sizes(), torch::kByte);
    const float* in = source.data_ptr<float>();
    uint8_t* out = bytes.data_ptr<uint8_t>();
    for (int64_t i = 0; i < source.numel(); ++i) out[i] = EncodeFp8E4M3Saturating(in[i]);
  } else {
    bytes = value.to(ToScalarType(storage)).contiguous();
  }
  writer.Add(name, storage, value.sizes().vec(), bytes.data_ptr(),
             static_cast<std::size_t>(bytes.numel() * bytes.element_size()));
}

}  // namespace streamdit
