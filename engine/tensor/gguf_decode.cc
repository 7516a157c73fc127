#include "engine/tensor/gguf_decode.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <string>

#include "engine/checkpoint/gguf_dequantize.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"
#include "engine/tensor/gguf_decode_aten.h"

namespace streamdit::engine {
namespace {

// Floats decoded at a time per thread when the compute dtype is not float32: a multiple of every
// block size (32 and 256), small enough for the stack.
constexpr int64_t kStackFloats = 4096;

// GGML dims (row first) of a row-major shape.
std::vector<int64_t> GgmlDims(const std::vector<int64_t>& shape) {
  return std::vector<int64_t>(shape.rbegin(), shape.rend());
}

}  // namespace

std::vector<int64_t> GgmlStorageShape(GgmlType type, const std::vector<int64_t>& shape) {
  if (shape.empty()) return {static_cast<int64_t>(GgmlTensorBytes(type, {}))};
  int64_t rows = 1;
  for (std::size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  const int64_t row_bytes = static_cast<int64_t>(GgmlTensorBytes(type, {shape.back()}));
  return {rows, row_bytes};
}

void CheckGgmlBytes(const torch::Tensor& bytes, GgmlType type, const std::vector<int64_t>& shape) {
  const int64_t expected = static_cast<int64_t>(GgmlTensorBytes(type, GgmlDims(shape)));
  if (bytes.scalar_type() != torch::kByte || bytes.numel() != expected) {
    throw InvalidArgument(std::string(GgmlTypeName(type)) + " tensor of shape " +
                          ShapeString(shape) + " needs " + std::to_string(expected) +
                          " bytes, got " + std::to_string(bytes.numel() * bytes.element_size()));
  }
}

torch::Tensor DecodeGgmlBlocks(const torch::Tensor& bytes, GgmlType type,
                               const std::vector<int64_t>& shape, torch::ScalarType compute) {
  CheckGgmlBytes(bytes, type, shape);
  // Elsewhere than the CPU the bytes are decoded where they are, by ATen's own kernels.
  if (!bytes.device().is_cpu()) return DecodeGgmlBlocksAten(bytes, type, shape, compute);
  const torch::Tensor contiguous = bytes.contiguous();
  const uint8_t* in = contiguous.data_ptr<uint8_t>();
  const int64_t block_size = GgmlBlockSize(type);
  const int64_t block_bytes = GgmlBlockBytes(type);
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  const int64_t blocks = numel / block_size;
  torch::Tensor out = torch::empty(shape, torch::TensorOptions().dtype(compute));
  // About 64 Ki elements per task, whatever the block size.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / block_size);
  if (compute == torch::kFloat) {
    float* dst = out.data_ptr<float>();
    at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
      DequantizeBlocks(type, in + begin * block_bytes, end - begin, dst + begin * block_size);
    });
    return out;
  }
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, compute, "DecodeGgmlBlocks", [&] {
    scalar_t* dst = out.data_ptr<scalar_t>();
    const int64_t per_buffer = kStackFloats / block_size;
    at::parallel_for(0, blocks, grain, [&](int64_t begin, int64_t end) {
      std::array<float, kStackFloats> buffer;
      for (int64_t b = begin; b < end; b += per_buffer) {
        const int64_t count = std::min(per_buffer, end - b);
        DequantizeBlocks(type, in + b * block_bytes, count, buffer.data());
        scalar_t* out_row = dst + b * block_size;
        for (int64_t i = 0; i < count * block_size; ++i) {
          out_row[i] = static_cast<scalar_t>(buffer[static_cast<std::size_t>(i)]);
        }
      }
    });
  });
  return out;
}

}  // namespace streamdit::engine
