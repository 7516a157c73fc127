// Which device a thread's CPU allocations are charged to. A server with several `cpu` devices
// gives each device its own MemoryMeter (budget, current, peak) and runs each device's work on
// its own worker thread inside a ScopedDeviceCharge: the counting allocator (counting_allocator.h)
// then charges every allocation that thread makes to the device's meter as well as the process
// meter, refuses one that would take the device above its meter's limit (the way a CUDA
// allocation fails on a full card: c10::OutOfMemoryError, which StatusFromException reports as
// RESOURCE_EXHAUSTED), and releases it against the same device whichever thread frees it.
//
// Threads that the engine starts for a job (the streaming prefetch worker) inherit the charge of
// the thread that started them. Allocations made outside any charge count for the process only.
#pragma once

#include "engine/memory/memory_meter.h"

namespace streamdit::engine {

class ScopedDeviceCharge {
 public:
  // nullptr: this thread's allocations are charged to no device while the scope lasts.
  explicit ScopedDeviceCharge(MemoryMeter* device);
  ~ScopedDeviceCharge();
  ScopedDeviceCharge(const ScopedDeviceCharge&) = delete;
  ScopedDeviceCharge& operator=(const ScopedDeviceCharge&) = delete;

  // The meter this thread's allocations are charged to now (nullptr: none).
  static MemoryMeter* Current();

 private:
  MemoryMeter* previous_;
};

}  // namespace streamdit::engine
