#include "engine/memory/allocation_bytes.h"

#include <c10/core/ScalarType.h>

#include "engine/memory/counting_allocator.h"

namespace streamdit::engine {

int64_t AllocationBytes(int64_t numel, torch::ScalarType dtype, torch::Device device) {
  const int64_t bytes = numel * static_cast<int64_t>(c10::elementSize(dtype));
  if (device.is_cpu()) return bytes + static_cast<int64_t>(CountingAllocator::kHeaderBytes);
  return (bytes + 511) / 512 * 512;
}

}  // namespace streamdit::engine
