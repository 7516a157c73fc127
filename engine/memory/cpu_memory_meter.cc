#include "engine/memory/cpu_memory_meter.h"

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

std::atomic<bool> installed{false};

int64_t HostCacheLimitBytes() {
  constexpr int64_t kDefault = int64_t{4} << 30;
  const char* text = std::getenv("STREAMDIT_HOST_CACHE_BYTES");
  if (text == nullptr || *text == '\0') return kDefault;
  char* end = nullptr;
  const long long bytes = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || bytes < 0) {
    throw InvalidArgument("STREAMDIT_HOST_CACHE_BYTES must be a byte count >= 0, got '" +
                          std::string(text) + "'");
  }
  return bytes;
}

}  // namespace

CpuMemoryMeter::CpuMemoryMeter()
    : wrapped_(c10::GetCPUAllocator()),
      cache_(wrapped_, HostCacheLimitBytes()),
      allocator_(&cache_, &meter_) {
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
