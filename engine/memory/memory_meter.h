// Lock-free byte accounting for one device: current bytes, the process-wide peak, and measurement
// windows that each record the peak while they are open. Allocators call Allocated/Freed on their
// hot path, so these are atomics only (no mutex, no allocation).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace streamdit::engine {

class MemoryMeter {
 public:
  // Up to this many windows may be open at once (one per concurrently running job on the device);
  // the open windows are one bit each in a 64-bit mask that the hot path reads with one load.
  static constexpr int kMaxOpenWindows = 64;

  // Records the peak of the meter's current bytes from its opening until it is closed
  // (destroyed). Several jobs in one process each open their own window, so that one job resetting
  // its peak does not disturb another's. Movable, not copyable.
  class Window {
   public:
    explicit Window(MemoryMeter& meter);
    ~Window();
    Window(Window&& other) noexcept;
    Window& operator=(Window&& other) noexcept;
    Window(const Window&) = delete;
    Window& operator=(const Window&) = delete;

    // The largest value of the meter's current bytes seen since the window opened or was last
    // reset (absolute bytes, not relative to the opening).
    int64_t peak_bytes() const;
    // The meter's current bytes when the window opened or was last reset.
    int64_t start_bytes() const { return start_bytes_; }
    // The peak above the start: what the work done inside the window added at its worst.
    int64_t peak_above_start_bytes() const;
    // Starts a new measurement at the meter's current bytes.
    void ResetPeak();

   private:
    void Close();

    MemoryMeter* meter_;
    int slot_;  // -1 once moved from
    int64_t start_bytes_ = 0;
  };

  MemoryMeter() = default;
  // A meter nested in `parent` (a job's ceiling inside its device's meter): every byte counted here
  // is counted there too, and an allocation must fit both limits. `parent` must outlive this meter.
  explicit MemoryMeter(MemoryMeter* parent) : parent_(parent) {}
  MemoryMeter(const MemoryMeter&) = delete;
  MemoryMeter& operator=(const MemoryMeter&) = delete;

  // Hot path: called by the allocator for every allocation and every free.
  void Allocated(int64_t bytes);
  void Freed(int64_t bytes);
  // Allocated, unless it would take current_bytes() above the limit (this meter's or a parent's):
  // then nothing is counted, the result is false and `refused` (when given) is set to the meter
  // whose limit refused (the allocator fails the allocation, as a CUDA allocation fails when the
  // card is full). Two racing allocations can never both pass a limit.
  bool TryAllocated(int64_t bytes, const MemoryMeter** refused = nullptr);

  MemoryMeter* parent() const { return parent_; }
  // Re-parents a meter that counts nothing (current_bytes() == 0); see the constructor.
  void set_parent(MemoryMeter* parent);

  // A hard ceiling on current_bytes() for TryAllocated; 0 (the default) means none. Lowering it
  // below current_bytes() frees nothing; later allocations fail until enough is freed.
  void set_limit_bytes(int64_t limit) { limit_bytes_.store(limit, std::memory_order_relaxed); }
  int64_t limit_bytes() const { return limit_bytes_.load(std::memory_order_relaxed); }

  int64_t current_bytes() const { return current_bytes_.load(std::memory_order_relaxed); }
  // The largest value current_bytes() has had since construction or the last ResetPeak().
  int64_t peak_bytes() const { return peak_bytes_.load(std::memory_order_relaxed); }
  // Process-wide reset (a single job on the device); concurrent jobs use windows instead.
  void ResetPeak();

  Window OpenWindow() { return Window(*this); }

 private:
  // One per cache line so that windows updated from different threads do not false-share.
  struct alignas(64) WindowPeak {
    std::atomic<int64_t> bytes{0};
  };

  int ClaimWindowSlot();
  void ReleaseWindowSlot(int slot);
  // Sets `peak` to `value` when larger (CAS loop; a failed exchange re-reads and retries).
  static void RaiseTo(std::atomic<int64_t>& peak, int64_t value);
  // Restarts a peak at the current bytes without losing an allocation that races with it.
  void RestartPeak(std::atomic<int64_t>& peak);

  // Raises the process peak and every open window's peak to `now`.
  void RaisePeaks(int64_t now);

  MemoryMeter* parent_ = nullptr;
  std::atomic<int64_t> current_bytes_{0};
  std::atomic<int64_t> peak_bytes_{0};
  std::atomic<int64_t> limit_bytes_{0};
  std::atomic<uint64_t> open_windows_{0};
  std::array<WindowPeak, kMaxOpenWindows> window_peaks_{};
};

}  // namespace streamdit::engine
