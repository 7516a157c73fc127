#include "engine/memory/counting_allocator.h"

#include <c10/core/alignment.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <limits>

#include "engine/memory/device_charge.h"

namespace streamdit::engine {
namespace {

struct BlockHeader {
  void* wrapped_context;
  c10::DeleterFnPtr wrapped_deleter;
  MemoryMeter* meter;
  MemoryMeter* device_meter;  // the device the block is charged to, or nullptr
  int64_t counted_bytes;
};

static_assert(sizeof(BlockHeader) <= CountingAllocator::kHeaderBytes, "header must fit");
static_assert(CountingAllocator::kHeaderBytes % c10::gAlignment == 0,
              "the header must keep the data at libtorch's CPU alignment");

}  // namespace

CountingAllocator::CountingAllocator(c10::Allocator* wrapped, MemoryMeter* meter)
    : wrapped_(wrapped), meter_(meter) {
  TORCH_CHECK(wrapped_ != nullptr, "CountingAllocator: no allocator to wrap");
  TORCH_CHECK(meter_ != nullptr, "CountingAllocator: no meter");
}

c10::DataPtr CountingAllocator::allocate(size_t bytes) {
  if (bytes == 0) {
    // Nothing to count; a null context means the deleter never runs.
    return c10::DataPtr(nullptr, nullptr, &DeleteBlock, c10::Device(c10::DeviceType::CPU));
  }
  TORCH_CHECK(bytes <= std::numeric_limits<size_t>::max() - kHeaderBytes &&
                  bytes + kHeaderBytes <= static_cast<size_t>(std::numeric_limits<int64_t>::max()),
              "CountingAllocator: allocation of ", bytes, " bytes is too large");
  const size_t block_bytes = bytes + kHeaderBytes;
  // The device's ceiling is checked (and the bytes reserved) before the memory is taken.
  MemoryMeter* device_meter = ScopedDeviceCharge::Current();
  const MemoryMeter* refused = nullptr;
  if (device_meter && !device_meter->TryAllocated(static_cast<int64_t>(block_bytes), &refused)) {
    // `refused` is the job's ceiling or the device's meter, whichever limit the block crossed.
    TORCH_CHECK_WITH(OutOfMemoryError, false, "out of memory: allocating ", block_bytes,
                     " bytes with ", refused->current_bytes(), " of ", refused->limit_bytes(),
                     " bytes in use");
  }
  c10::DataPtr block;
  try {
    block = wrapped_->allocate(block_bytes);
  } catch (...) {
    if (device_meter) device_meter->Freed(static_cast<int64_t>(block_bytes));
    throw;
  }
  auto* base = static_cast<char*>(block.get());
  TORCH_CHECK(base != nullptr, "CountingAllocator: wrapped allocator returned no memory for ",
              block_bytes, " bytes");
  const c10::Device device = block.device();
  auto* header = reinterpret_cast<BlockHeader*>(base);
  header->wrapped_deleter = block.get_deleter();
  header->wrapped_context = block.release_context();
  header->meter = meter_;
  header->device_meter = device_meter;
  header->counted_bytes = static_cast<int64_t>(block_bytes);
  meter_->Allocated(header->counted_bytes);
  void* data = base + kHeaderBytes;
  return c10::DataPtr(data, data, &DeleteBlock, device);
}

void CountingAllocator::DeleteBlock(void* data) {
  if (data == nullptr) return;  // raw_deallocate(nullptr)
  // Copy the header out first: the wrapped deleter frees the memory it lives in.
  const BlockHeader header =
      *reinterpret_cast<const BlockHeader*>(static_cast<char*>(data) - kHeaderBytes);
  header.meter->Freed(header.counted_bytes);
  if (header.device_meter != nullptr) header.device_meter->Freed(header.counted_bytes);
  if (header.wrapped_deleter != nullptr) header.wrapped_deleter(header.wrapped_context);
}

}  // namespace streamdit::engine
