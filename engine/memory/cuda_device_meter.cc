#include "engine/memory/cuda_device_meter.h"

#include <array>
#include <atomic>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

// One slot per device index; read on the allocator's hot path (under its lock), so lock-free.
constexpr int kMaxCudaDevices = 64;
std::array<std::atomic<MemoryMeter*>, kMaxCudaDevices>& Routes() {
  static std::array<std::atomic<MemoryMeter*>, kMaxCudaDevices> routes{};
  return routes;
}

void CheckIndex(int index) {
  if (index < 0 || index >= kMaxCudaDevices) {
    throw InvalidArgument("CUDA device index " + std::to_string(index) + " is outside 0.." +
                          std::to_string(kMaxCudaDevices - 1));
  }
}

}  // namespace

// Defined in cuda_allocator_hooks_cuda.cc (or _no_cuda.cc): attaches the trace tracker once.
void AttachCudaAllocatorTracker();
void SetCudaReservedFraction(int index, double fraction);
// The routing alone (tests play the allocator without one; cuda_device_meter_test.cc).
void RouteCudaDeviceForTesting(int index, MemoryMeter* meter);

void RouteCudaDeviceForTesting(int index, MemoryMeter* meter) {
  CheckIndex(index);
  Routes()[static_cast<std::size_t>(index)].store(meter, std::memory_order_release);
}

void MeterCudaDevice(int index, MemoryMeter* meter, int64_t budget_bytes, int64_t total_bytes) {
  CheckIndex(index);
  AttachCudaAllocatorTracker();
  if (budget_bytes > 0) SetCudaReservedFraction(index, ReservedFraction(budget_bytes, total_bytes));
  RouteCudaDeviceForTesting(index, meter);
}

MemoryMeter* CudaDeviceMeter(int index) {
  if (index < 0 || index >= kMaxCudaDevices) return nullptr;
  return Routes()[static_cast<std::size_t>(index)].load(std::memory_order_acquire);
}

void RecordCudaAllocatorEvent(int index, CudaAllocatorEvent event, int64_t bytes) {
  MemoryMeter* meter = CudaDeviceMeter(index);
  if (!meter || bytes <= 0) return;
  bytes = (bytes + 511) / 512 * 512;  // the allocator's granule, both ways
  switch (event) {
    case CudaAllocatorEvent::kAlloc:
      meter->Allocated(bytes);
      break;
    case CudaAllocatorEvent::kFreeCompleted:
      meter->Freed(bytes);
      break;
    case CudaAllocatorEvent::kOther:
      break;
  }
}

double ReservedFraction(int64_t budget_bytes, int64_t total_bytes) {
  if (total_bytes <= 0) {
    throw InvalidArgument("a CUDA device's total memory must be > 0, got " +
                          std::to_string(total_bytes));
  }
  if (budget_bytes <= 0) {
    throw InvalidArgument("a CUDA device's budget must be > 0 bytes, got " +
                          std::to_string(budget_bytes));
  }
  if (budget_bytes >= total_bytes) return 1.0;
  return static_cast<double>(budget_bytes) / static_cast<double>(total_bytes);
}

}  // namespace streamdit::engine
