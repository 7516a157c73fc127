#include "engine/checkpoint/byte_size.h"

namespace streamdit::engine {

std::optional<uint64_t> CheckedByteSize(DType dtype, const std::vector<int64_t>& shape) {
  uint64_t bytes = DTypeSize(dtype);
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    uint64_t product;
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &product)) return std::nullopt;
    bytes = product;
  }
  return bytes;
}

}  // namespace streamdit::engine
