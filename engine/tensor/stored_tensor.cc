#include "engine/tensor/stored_tensor.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "engine/checkpoint/fp8.h"
#include "engine/memory/allocation_bytes.h"
#include "engine/status/status_error.h"
#include "engine/streaming/host_tensor.h"
#include "engine/tensor/float_conversion.h"
#include "engine/tensor/gguf_decode.h"
#include "engine/tensor/gguf_decode_aten.h"

namespace streamdit::engine {

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
  throw Internal("unknown dtype");
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
      throw InvalidArgument(std::string("no safetensors dtype for torch type ") +
                            c10::toString(type));
  }
}

int64_t StoredTensor::numel() const {
  if (!blocks) return data.defined() ? data.numel() : 0;
  int64_t count = 1;
  for (int64_t s : shape) count *= s;
  return count;
}

namespace {

// A GGUF tensor whose elements are not plain (TensorRef::gguf's type is a block type).
std::optional<GgmlType> BlockType(const TensorRef& ref) {
  if (ref.gguf == nullptr || ref.info->dtype != DType::kU8) return std::nullopt;
  return ref.gguf->type;
}

}  // namespace

torch::Tensor ViewTensor(const TensorRef& ref) {
  // The mapping is read-only; torch needs a non-const pointer but the tensor is never written
  // (callers copy before mutating: Materialize and ToStorage always produce new tensors).
  auto* data = const_cast<uint8_t*>(ref.data());
  const auto options = torch::TensorOptions().dtype(ToScalarType(ref.info->dtype));
  const std::optional<GgmlType> blocks = BlockType(ref);
  const std::vector<int64_t> shape =
      blocks ? GgmlStorageShape(*blocks, ref.info->shape) : ref.info->shape;
  if (!ref.owner) return torch::from_blob(data, shape, options);
  // The view holds the mapping alive: models outlive the Checkpoint objects they were loaded from.
  std::shared_ptr<const void> owner = ref.owner;
  return torch::from_blob(
      data, shape, [owner](void*) mutable { owner.reset(); }, options);
}

StoredTensor ViewStored(const TensorRef& ref) {
  StoredTensor stored;
  stored.data = ViewTensor(ref);
  stored.dtype = ref.info->dtype;
  stored.blocks = BlockType(ref);
  if (stored.blocks) stored.shape = ref.info->shape;
  // Scaled fp8: the codes' logical values are code x scale (Checkpoint reads the scale tensor).
  if (stored.dtype == DType::kF8E4M3 || stored.dtype == DType::kF8E5M2) stored.scale = ref.scale;
  return stored;
}

namespace {

// Decodes fp8 codes straight into the compute dtype through the 256-entry table, in parallel over
// chunks: no float32 intermediate, so a bf16 block costs only its bf16 copy (the plan's
// conversion bytes).
torch::Tensor DecodeFp8(const torch::Tensor& codes, DType dtype, float scale,
                        torch::ScalarType compute) {
  torch::Tensor contiguous = codes.contiguous();
  torch::Tensor out = torch::empty(contiguous.sizes(), compute);
  const uint8_t* in = contiguous.data_ptr<uint8_t>();
  const auto& table = dtype == DType::kF8E4M3 ? Fp8E4M3Table() : Fp8E5M2Table();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, compute, "DecodeFp8", [&] {
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, contiguous.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) dst[i] = static_cast<scalar_t>(table[in[i]] * scale);
    });
  });
  return out;
}

// Largest finite magnitude of a floating tensor, read in its own dtype (no float32 copy).
float MaxFiniteAbs(const torch::Tensor& contiguous) {
  float result = 0.0f;
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, contiguous.scalar_type(), "MaxAbs", [&] {
        const scalar_t* in = contiguous.data_ptr<scalar_t>();
        result = at::parallel_reduce(
            0, contiguous.numel(), 1 << 16, 0.0f,
            [&](int64_t begin, int64_t end, float best) {
              for (int64_t i = begin; i < end; ++i) {
                const float magnitude = std::fabs(static_cast<float>(in[i]));
                if (std::isfinite(magnitude) && magnitude > best) best = magnitude;
              }
              return best;
            },
            [](float a, float b) { return std::max(a, b); });
      });
  return result;
}

// Per-tensor e4m3 encoding into host-tier memory. The scale maps the largest finite magnitude to
// 448; infinities then saturate to +-448 * scale instead of forcing scale = inf (every code would
// decode to 0 or NaN). The floor at FLT_MIN keeps 1 / scale finite for all-tiny tensors, so zeros
// never become 0 * inf = NaN.
StoredTensor ToFp8E4M3(const torch::Tensor& value) {
  if (!value.is_floating_point()) {
    throw InvalidArgument(std::string("fp8 storage needs a floating tensor, got ") +
                          c10::toString(value.scalar_type()));
  }
  const torch::Tensor source = value.cpu().contiguous();
  const float max_abs = MaxFiniteAbs(source);
  StoredTensor stored;
  stored.dtype = DType::kF8E4M3;
  stored.scale = max_abs > 0 ? std::max(max_abs / 448.0f, std::numeric_limits<float>::min()) : 1.0f;
  stored.data = AllocateHostTensor(source.sizes().vec(), torch::kByte);
  uint8_t* out = stored.data.data_ptr<uint8_t>();
  const float inverse = 1.0f / stored.scale;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, source.scalar_type(), "ToFp8", [&] {
    const scalar_t* in = source.data_ptr<scalar_t>();
    at::parallel_for(0, source.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        out[i] = EncodeFp8E4M3Saturating(static_cast<float>(in[i]) * inverse);
      }
    });
  });
  return stored;
}

}  // namespace

namespace {

bool IsFp8(DType dtype) { return dtype == DType::kF8E4M3 || dtype == DType::kF8E5M2; }

// fp8 on a device: the codes are reinterpreted as torch's own fp8 dtype and converted, which is
// exact into f16/bf16/f32 (every e4m3 and e5m2 value is representable there), then scaled in
// place. The product is rounded once from float32 (the kernels' opmath), as the CPU table decode
// rounds table[code] * scale: both give the same bits. No index tensor, no table: the result is
// the only allocation, except for f64 compute, which scales in float32 first (as the CPU does)
// and so holds a float32 copy while converting.
torch::Tensor DecodeFp8OnDevice(const torch::Tensor& codes, DType dtype, float scale,
                                torch::ScalarType compute) {
  const torch::ScalarType fp8 =
      dtype == DType::kF8E4M3 ? torch::kFloat8_e4m3fn : torch::kFloat8_e5m2;
  const torch::Tensor values = codes.view(fp8);
  if (compute == torch::kDouble) {
    torch::Tensor scaled = values.to(torch::kFloat);
    if (scale != 1.0f) scaled.mul_(static_cast<double>(scale));
    return scaled.to(torch::kDouble);
  }
  torch::Tensor out = values.to(compute);
  if (scale != 1.0f) out.mul_(static_cast<double>(scale));
  return out;
}

}  // namespace

bool MaterializeCopies(const StoredTensor& stored, torch::ScalarType compute) {
  return stored.blocks.has_value() || IsFp8(stored.dtype) || stored.data.scalar_type() != compute;
}

int64_t DecodeTransientBytes(const StoredTensor& stored, torch::ScalarType compute,
                             torch::Device device) {
  if (device.is_cpu()) return 0;  // CPU codecs write into their result
  if (stored.blocks) {
    // ATen's decoder works a chunk at a time; blocks held elsewhere are copied to the device first.
    int64_t bytes = GgmlAtenDecodeTransientBytes(*stored.blocks, stored.numel(), compute, device);
    if (stored.data.device() != device)
      bytes += AllocationBytes(stored.nbytes(), torch::kByte, device);
    return bytes;
  }
  if (!IsFp8(stored.dtype)) return 0;
  int64_t bytes = 0;
  // Codes held elsewhere (a host tensor, not a slot) are first copied to the device.
  if (stored.data.device() != device)
    bytes += AllocationBytes(stored.numel(), torch::kByte, device);
  if (compute == torch::kDouble) bytes += AllocationBytes(stored.numel(), torch::kFloat, device);
  return bytes;
}

torch::Tensor Materialize(const StoredTensor& stored, torch::ScalarType compute,
                          torch::Device device) {
  if (stored.blocks) {
    // Bytes stay in their blocks until here: decoded only when the layer is about to run, on the
    // device that computes, where they travel as blocks (4.5 bits per weight for Q4_0).
    const torch::Tensor bytes = stored.data.to(device, /*non_blocking=*/true);
    return DecodeGgmlBlocks(bytes, *stored.blocks, stored.shape, compute);
  }
  if (IsFp8(stored.dtype)) {
    // On the device the codes travel as bytes (half the bf16 transfer) and are decoded there.
    torch::Tensor codes = stored.data.to(device, /*non_blocking=*/true);
    if (device.is_cpu()) return DecodeFp8(codes, stored.dtype, stored.scale, compute);
    return DecodeFp8OnDevice(codes, stored.dtype, stored.scale, compute);
  }
  if (device.is_cpu() && compute == torch::kFloat && CanWidenToFloat32(stored.data)) {
    return WidenToFloat32(stored.data);  // the same bits, at memory speed
  }
  return stored.data.to(device, compute, /*non_blocking=*/false, /*copy=*/false);
}

StoredTensor ToStorage(const torch::Tensor& value, DType storage) {
  if (storage == DType::kF8E4M3) return ToFp8E4M3(value);
  if (storage == DType::kF8E5M2) {
    throw InvalidArgument("fp8 e5m2 is not supported as a storage dtype; use F8_E4M3");
  }
  // copy_ converts element by element into the host tensor: no counted intermediate.
  StoredTensor stored;
  stored.dtype = storage;
  stored.data = AllocateHostTensor(value.sizes().vec(), ToScalarType(storage));
  stored.data.copy_(value);
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

}  // namespace streamdit::engine
