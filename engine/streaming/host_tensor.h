// Host-tier memory: weights held in host RAM outside the device accounting. On CPU builds the
// "device" is also host RAM, so host-tier tensors are allocated here, beside libtorch's (counted)
// CPU allocator, and never show in the device meter. (CUDA builds pin these pages once, at load.)
#pragma once

#include <torch/types.h>

#include <vector>

namespace streamdit::engine {

// An uninitialized contiguous CPU tensor whose storage bypasses libtorch's allocator.
torch::Tensor AllocateHostTensor(const std::vector<int64_t>& sizes, torch::ScalarType dtype);

// A host-tier copy of `source` (any device) in a host tensor of the same dtype and shape.
torch::Tensor CopyToHost(const torch::Tensor& source);

}  // namespace streamdit::engine
