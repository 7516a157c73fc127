// What a device's memory meter offers the engine, the tests and the metrics: the bytes in use and
// the peak, held against the memory budget.
#pragma once

#include <cstdint>
#include <string>

namespace streamdit::engine {

// Implementations:
//  - CpuMemoryMeter (engine/memory/cpu_memory_meter.h): a counting allocator installed as
//    libtorch's CPU allocator counts every tensor allocation exactly.
//  - CUDA (later): libtorch 1.13 allocates CUDA tensors through the caching allocator directly,
//    not through c10::GetAllocator, so it cannot be wrapped. current_bytes() is then the caching
//    allocator's allocated bytes (c10::cuda::CUDACachingAllocator::getDeviceStats) plus the
//    context overhead (cudaMemGetInfo's used bytes minus the allocator's reserved bytes, measured
//    once after the context exists); peak_bytes() the stats' peak plus that overhead, and
//    ResetPeak() resets the stats' peaks (resetPeakStats). Measurement windows for concurrent jobs
//    would be fed from those stats when sampled, since per-allocation hooks do not exist there.
// All counts are bytes of device memory taken by tensors (and, where the device has one, the
// fixed runtime overhead); they never go negative.
class DeviceMemoryMeter {
 public:
  virtual ~DeviceMemoryMeter() = default;

  // "cpu", "cuda:0", ... (as torch::Device::str() spells it).
  virtual std::string device_name() const = 0;
  // Bytes in use now.
  virtual int64_t current_bytes() const = 0;
  // The most bytes in use at once since the meter started or since the last ResetPeak().
  virtual int64_t peak_bytes() const = 0;
  // Starts a new peak at the current bytes (per job, when one job runs on the device at a time).
  virtual void ResetPeak() = 0;
};

}  // namespace streamdit::engine
