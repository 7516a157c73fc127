#include "engine/memory/cpu_memory_meter.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

std::atomic<bool> installed{false};

}  // namespace

CpuMemoryMeter::CpuMemoryMeter() : allocator_(c10::GetCPUAllocator(), &meter_) {
  c10::SetCPUAllocator(&allocator_, kAllocatorPriority);
  if (c10::GetCPUAllocator() != &allocator_) {
    throw FailedPrecondition(
        "CpuMemoryMeter: a CPU allocator with a higher priority than ours is installed; CPU "
        "memory would not be counted");
  }
}

CpuMemoryMeter& CpuMemoryMeter::Install() {
  // Never destroyed: blocks freed during static destruction still reach the allocator and meter.
  static CpuMemoryMeter* const instance = new CpuMemoryMeter();
  installed.store(true, std::memory_order_release);
  return *instance;
}

bool CpuMemoryMeter::IsInstalled() { return installed.load(std::memory_order_acquire); }

}  // namespace streamdit::engine
