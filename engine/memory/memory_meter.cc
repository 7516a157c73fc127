#include "engine/memory/memory_meter.h"

#include <string>
#include <utility>

#include "engine/status/status_error.h"

namespace streamdit::engine {

void MemoryMeter::RaiseTo(std::atomic<int64_t>& peak, int64_t value) {
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (value > seen && !peak.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

void MemoryMeter::RestartPeak(std::atomic<int64_t>& peak) {
  peak.store(current_bytes(), std::memory_order_relaxed);
  // An allocation that raised current_bytes_ between our load and our store has already written
  // its (now overwritten) peak; raising again to the current value keeps peak >= current.
  RaiseTo(peak, current_bytes());
}

void MemoryMeter::Allocated(int64_t bytes) {
  RaisePeaks(current_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
  if (parent_) parent_->Allocated(bytes);
}

bool MemoryMeter::TryAllocated(int64_t bytes, const MemoryMeter** refused) {
  const int64_t limit = limit_bytes();
  int64_t seen = current_bytes_.load(std::memory_order_relaxed);
  if (limit <= 0) {
    seen = current_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  } else {
    do {
      if (seen + bytes > limit) {
        if (refused) *refused = this;
        return false;
      }
    } while (!current_bytes_.compare_exchange_weak(seen, seen + bytes, std::memory_order_relaxed));
  }
  if (parent_ && !parent_->TryAllocated(bytes, refused)) {
    // Taken back before any peak saw it: the bytes were never allocated.
    current_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
    return false;
  }
  RaisePeaks(seen + bytes);
  return true;
}

void MemoryMeter::set_parent(MemoryMeter* parent) {
  if (current_bytes() != 0) {
    throw FailedPrecondition("MemoryMeter: re-parenting a meter that still counts " +
                             std::to_string(current_bytes()) + " bytes");
  }
  parent_ = parent;
}

void MemoryMeter::RaisePeaks(int64_t now) {
  RaiseTo(peak_bytes_, now);
  uint64_t open = open_windows_.load(std::memory_order_acquire);
  while (open != 0) {
    const int slot = __builtin_ctzll(open);
    RaiseTo(window_peaks_[slot].bytes, now);
    open &= open - 1;
  }
}

void MemoryMeter::Freed(int64_t bytes) {
  current_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
  if (parent_) parent_->Freed(bytes);
}

void MemoryMeter::ResetPeak() { RestartPeak(peak_bytes_); }

int MemoryMeter::ClaimWindowSlot() {
  uint64_t open = open_windows_.load(std::memory_order_relaxed);
  while (true) {
    if (open == ~uint64_t{0}) {
      throw ResourceExhausted("MemoryMeter: more than " + std::to_string(kMaxOpenWindows) +
                              " measurement windows open at once");
    }
    const int slot = __builtin_ctzll(~open);
    if (open_windows_.compare_exchange_weak(open, open | (uint64_t{1} << slot),
                                            std::memory_order_acq_rel)) {
      return slot;
    }
  }
}

void MemoryMeter::ReleaseWindowSlot(int slot) {
  open_windows_.fetch_and(~(uint64_t{1} << slot), std::memory_order_acq_rel);
}

MemoryMeter::Window::Window(MemoryMeter& meter) : meter_(&meter), slot_(meter.ClaimWindowSlot()) {
  // The slot is visible to allocating threads from the claim on, so an allocation racing with the
  // opening is either seen here or raises the slot itself. (An allocator thread that read the mask
  // before the previous owner released this slot may still raise it once, with a value that
  // current_bytes() held around this opening: at worst a slight over-report, never an
  // under-report.)
  ResetPeak();
}

MemoryMeter::Window::~Window() { Close(); }

MemoryMeter::Window::Window(Window&& other) noexcept
    : meter_(other.meter_),
      slot_(std::exchange(other.slot_, -1)),
      start_bytes_(other.start_bytes_) {}

MemoryMeter::Window& MemoryMeter::Window::operator=(Window&& other) noexcept {
  if (this != &other) {
    Close();
    meter_ = other.meter_;
    slot_ = std::exchange(other.slot_, -1);
    start_bytes_ = other.start_bytes_;
  }
  return *this;
}

void MemoryMeter::Window::Close() {
  if (slot_ >= 0) {
    meter_->ReleaseWindowSlot(slot_);
    slot_ = -1;
  }
}

int64_t MemoryMeter::Window::peak_bytes() const {
  if (slot_ < 0) throw Internal("MemoryMeter::Window: read after move");
  return meter_->window_peaks_[slot_].bytes.load(std::memory_order_relaxed);
}

int64_t MemoryMeter::Window::peak_above_start_bytes() const {
  const int64_t above = peak_bytes() - start_bytes_;
  return above > 0 ? above : 0;
}

void MemoryMeter::Window::ResetPeak() {
  if (slot_ < 0) throw Internal("MemoryMeter::Window: reset after move");
  start_bytes_ = meter_->current_bytes();
  meter_->window_peaks_[slot_].bytes.store(start_bytes_, std::memory_order_relaxed);
  MemoryMeter::RaiseTo(meter_->window_peaks_[slot_].bytes, meter_->current_bytes());
}

}  // namespace streamdit::engine
