// What a device's allocator takes for one tensor, as its meter counts it: the planners and the
// scheduler's byte counts use this so that they agree with the measurement to the byte.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace streamdit::engine {

// The CPU's counting allocator adds its header (engine/memory/counting_allocator.h); CUDA's
// caching allocator rounds up to 512 bytes.
int64_t AllocationBytes(int64_t numel, torch::ScalarType dtype, torch::Device device);

}  // namespace streamdit::engine
