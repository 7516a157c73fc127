// The CPU device's memory meter: installs a CountingAllocator as libtorch's CPU allocator so that
// every CPU tensor allocation in the process is counted. Under it, a CachingHostAllocator re-uses
// freed large blocks (caching_host_allocator.h); the meter counts blocks in use, never cached ones.
#pragma once

#include <cstdint>
#include <string>

#include "engine/memory/caching_host_allocator.h"
#include "engine/memory/counting_allocator.h"
#include "engine/memory/device_memory_meter.h"
#include "engine/memory/memory_meter.h"

namespace streamdit::engine {

class CpuMemoryMeter final : public DeviceMemoryMeter {
 public:
  // Priority passed to c10::SetCPUAllocator: above libtorch's own registration (0), so that ours
  // replaces the default allocator, which it then wraps.
  static constexpr uint8_t kAllocatorPriority = 100;

  // Installs the counting allocator (first call only; later calls return the same instance) and
  // returns the process-wide meter. Only allocations made after the first call are counted; memory
  // allocated before it is freed without touching the counts. Throws StatusError
  // FAILED_PRECONDITION when a higher-priority CPU allocator keeps ours from being installed.
  static CpuMemoryMeter& Install();
  // Whether Install() has run in this process.
  static bool IsInstalled();

  std::string device_name() const override { return "cpu"; }
  int64_t current_bytes() const override { return meter_.current_bytes(); }
  int64_t peak_bytes() const override { return meter_.peak_bytes(); }
  void ResetPeak() override { meter_.ResetPeak(); }

  // A measurement window per job (see MemoryMeter::Window) for jobs that share the device.
  MemoryMeter::Window OpenWindow() { return meter_.OpenWindow(); }

  MemoryMeter& meter() { return meter_; }
  // The allocator that was libtorch's CPU allocator before ours (the one the cache forwards to).
  c10::Allocator* wrapped_allocator() const { return wrapped_; }
  // Freed large blocks kept for re-use: at most STREAMDIT_HOST_CACHE_BYTES (a byte count in the
  // environment; default 4 GiB, 0 turns caching off).
  CachingHostAllocator& host_cache() { return cache_; }

 private:
  CpuMemoryMeter();

  MemoryMeter meter_;
  c10::Allocator* wrapped_;
  CachingHostAllocator cache_;
  CountingAllocator allocator_;
};

}  // namespace streamdit::engine
