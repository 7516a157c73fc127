#include "engine/memory/scoped_peak.h"

#include "engine/memory/cpu_memory_meter.h"

namespace streamdit::engine {

ScopedPeak::ScopedPeak() : ScopedPeak(CpuMemoryMeter::Install().meter()) {}

ScopedPeak::ScopedPeak(MemoryMeter& meter) : meter_(&meter), window_(meter.OpenWindow()) {}

int64_t ScopedPeak::current_above_start_bytes() const {
  return meter_->current_bytes() - window_.start_bytes();
}

}  // namespace streamdit::engine
