// libtorch's CUDA caching allocator, as cuda_device_meter.h uses it (the CUDA configuration).
#include <ATen/Context.h>
#include <c10/core/Allocator.h>
#include <c10/cuda/CUDACachingAllocator.h>

#include <mutex>

#include "engine/memory/cuda_device_meter.h"

namespace streamdit::engine {
namespace {

namespace allocator = c10::cuda::CUDACachingAllocator;
using c10::CachingDeviceAllocator::TraceEntry;

CudaAllocatorEvent EventOf(TraceEntry::Action action) {
  switch (action) {
    case TraceEntry::ALLOC:
      return CudaAllocatorEvent::kAlloc;
    case TraceEntry::FREE_COMPLETED:
      // Not FREE_REQUESTED: a block still in use on another stream (record_stream) is freed
      // later, and until then it is the device's.
      return CudaAllocatorEvent::kFreeCompleted;
    default:
      return CudaAllocatorEvent::kOther;
  }
}

int64_t Aggregate(const c10::CachingAllocator::StatArray& stats, bool peak) {
  const auto& stat = stats[static_cast<std::size_t>(c10::CachingAllocator::StatType::AGGREGATE)];
  return peak ? stat.peak : stat.current;
}

}  // namespace

void AttachCudaAllocatorTracker() {
  static std::once_flag attached;
  std::call_once(attached, [] {
    // The allocator attaches trackers to the per-device allocators it has: create them first
    // (libtorch does so lazily, at the first CUDA tensor). Throws without a driver or device.
    at::globalContext().lazyInitDevice(at::kCUDA);
    // Called under the allocator's per-device lock: RecordCudaAllocatorEvent takes no lock and
    // allocates nothing.
    allocator::attachAllocatorTraceTracker([](const TraceEntry& entry) {
      RecordCudaAllocatorEvent(entry.device_, EventOf(entry.action_),
                               static_cast<int64_t>(entry.size_));
    });
  });
}

void SetCudaReservedFraction(int index, double fraction) {
  allocator::setMemoryFraction(fraction, static_cast<c10::DeviceIndex>(index));
}

CudaAllocatorStats ReadCudaAllocatorStats(int index) {
  const auto stats = allocator::getDeviceStats(static_cast<c10::DeviceIndex>(index));
  CudaAllocatorStats out;
  out.allocated_bytes = Aggregate(stats.allocated_bytes, false);
  out.reserved_bytes = Aggregate(stats.reserved_bytes, false);
  out.peak_allocated_bytes = Aggregate(stats.allocated_bytes, true);
  out.peak_reserved_bytes = Aggregate(stats.reserved_bytes, true);
  return out;
}

void ResetCudaPeakStats(int index) {
  allocator::resetPeakStats(static_cast<c10::DeviceIndex>(index));
}

bool ReleaseCudaCacheFor(int index, int64_t needed_bytes, int64_t limit_bytes) {
  const CudaAllocatorStats stats = ReadCudaAllocatorStats(index);
  const int64_t cached = stats.reserved_bytes - stats.allocated_bytes;
  if (cached <= 0 || stats.reserved_bytes + needed_bytes <= limit_bytes) return false;
  allocator::emptyCache();
  return true;
}

}  // namespace streamdit::engine
