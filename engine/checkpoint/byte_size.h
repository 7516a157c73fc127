// Overflow-checked byte size of a tensor: shapes come from untrusted headers, and a product of
// dimensions that wraps around could make a huge tensor look like it fits in a small span.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/checkpoint/dtype.h"

namespace streamdit::engine {

// numel(shape) * DTypeSize(dtype), or nullopt when a dimension is negative or the product
// overflows uint64.
std::optional<uint64_t> CheckedByteSize(DType dtype, const std::vector<int64_t>& shape);

}  // namespace streamdit::engine
