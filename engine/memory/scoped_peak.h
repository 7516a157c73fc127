// Test helper: how far the CPU bytes in use rose above their value at construction, at their
// highest, while this object lived.
#pragma once

#include <cstdint>

#include "engine/memory/memory_meter.h"

namespace streamdit::engine {

// Opens its own measurement window, so it neither resets nor is disturbed by the process-wide peak
// or other windows. Installs the CPU memory meter if it is not installed yet.
class ScopedPeak {
 public:
  ScopedPeak();
  explicit ScopedPeak(MemoryMeter& meter);

  // Bytes in use at construction (or at the last Reset()).
  int64_t start_bytes() const { return window_.start_bytes(); }
  // The highest rise above start_bytes() so far (0 when memory only went down).
  int64_t peak_above_start_bytes() const { return window_.peak_above_start_bytes(); }
  // The rise now (negative when memory went below the start).
  int64_t current_above_start_bytes() const;
  // Starts over at the bytes in use now.
  void Reset() { window_.ResetPeak(); }

 private:
  MemoryMeter* meter_;
  MemoryMeter::Window window_;
};

}  // namespace streamdit::engine
