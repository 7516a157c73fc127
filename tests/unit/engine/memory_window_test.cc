// MemoryMeter's accounting on its own (a private meter, no allocator): current and peak bytes,
// process-wide reset, and measurement windows that each see the peak only while they are open.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "engine/memory/memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

TEST(MemoryMeterTest, TracksCurrentAndPeakUntilReset) {
  MemoryMeter meter;
  meter.Allocated(100);
  meter.Allocated(50);
  meter.Freed(100);
  EXPECT_EQ(meter.current_bytes(), 50);
  EXPECT_EQ(meter.peak_bytes(), 150);
  meter.ResetPeak();
  EXPECT_EQ(meter.peak_bytes(), 50);
  meter.Allocated(10);
  EXPECT_EQ(meter.peak_bytes(), 60);
}

TEST(MemoryMeterTest, AWindowSeesOnlyThePeakWhileItIsOpen) {
  MemoryMeter meter;
  meter.Allocated(1000);
  meter.Freed(900);  // process peak 1000, current 100
  MemoryMeter::Window window = meter.OpenWindow();
  EXPECT_EQ(window.start_bytes(), 100);
  EXPECT_EQ(window.peak_bytes(), 100);
  meter.Allocated(300);
  meter.Freed(300);
  EXPECT_EQ(window.peak_bytes(), 400);
  EXPECT_EQ(window.peak_above_start_bytes(), 300);
  EXPECT_EQ(meter.peak_bytes(), 1000);
  window.ResetPeak();
  EXPECT_EQ(window.peak_above_start_bytes(), 0);
  meter.Freed(100);  // below the start: the rise is 0, not negative
  EXPECT_EQ(window.peak_above_start_bytes(), 0);
}

TEST(MemoryMeterTest, WindowsOfConcurrentJobsAreIndependent) {
  MemoryMeter meter;
  MemoryMeter::Window first = meter.OpenWindow();
  meter.Allocated(500);
  MemoryMeter::Window second = meter.OpenWindow();
  meter.Allocated(200);
  meter.Freed(700);
  EXPECT_EQ(first.peak_above_start_bytes(), 700);
  EXPECT_EQ(second.peak_above_start_bytes(), 200);
  first.ResetPeak();
  meter.Allocated(50);
  EXPECT_EQ(first.peak_above_start_bytes(), 50);
  EXPECT_EQ(second.peak_bytes(), 700);
}

TEST(MemoryMeterTest, ClosedWindowSlotsAreReusedAndTheLimitIsEnforced) {
  MemoryMeter meter;
  std::vector<MemoryMeter::Window> windows;
  for (int i = 0; i < MemoryMeter::kMaxOpenWindows; ++i) windows.push_back(meter.OpenWindow());
  EXPECT_STATUS_ERROR(meter.OpenWindow(), absl::StatusCode::kResourceExhausted);
  windows.pop_back();
  meter.Allocated(8);
  MemoryMeter::Window reopened = meter.OpenWindow();  // starts fresh in the freed slot
  EXPECT_EQ(reopened.start_bytes(), 8);
  EXPECT_EQ(reopened.peak_bytes(), 8);
  for (const MemoryMeter::Window& window : windows) EXPECT_EQ(window.peak_bytes(), 8);
}

TEST(MemoryMeterTest, AMovedWindowKeepsMeasuringAndTheMovedFromOneIsClosed) {
  MemoryMeter meter;
  MemoryMeter::Window original = meter.OpenWindow();
  MemoryMeter::Window moved = std::move(original);
  EXPECT_STATUS_ERROR(original.peak_bytes(),
                      absl::StatusCode::kInternal);  // NOLINT(bugprone-use-after-move)
  meter.Allocated(64);
  EXPECT_EQ(moved.peak_above_start_bytes(), 64);
  // Only one slot is in use: 63 more can open.
  std::vector<MemoryMeter::Window> others;
  for (int i = 1; i < MemoryMeter::kMaxOpenWindows; ++i) others.push_back(meter.OpenWindow());
  EXPECT_STATUS_ERROR(meter.OpenWindow(), absl::StatusCode::kResourceExhausted);
}

TEST(MemoryMeterTest, ConcurrentAllocationsAndWindowsStayConsistent) {
  MemoryMeter meter;
  constexpr int kThreads = 4;
  MemoryMeter::Window outer = meter.OpenWindow();
  std::atomic<int> holding{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&meter, &holding, t] {
      for (int round = 0; round < 20000; ++round) {
        // Windows open and close concurrently with the allocations.
        MemoryMeter::Window job = meter.OpenWindow();
        meter.Allocated(round % 97 + t);
        meter.Allocated(13);
        meter.Freed(13);
        meter.Freed(round % 97 + t);
      }
      meter.Allocated(1000);
      holding.fetch_add(1);
      while (holding.load() < kThreads) std::this_thread::yield();
      meter.Freed(1000);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(meter.current_bytes(), 0);
  EXPECT_GE(outer.peak_bytes(), kThreads * 1000);
  EXPECT_GE(meter.peak_bytes(), kThreads * 1000);
}

TEST(ScopedPeakTest, MeasuresTheRiseAboveItsStart) {
  MemoryMeter meter;
  meter.Allocated(40);
  ScopedPeak peak(meter);
  EXPECT_EQ(peak.start_bytes(), 40);
  meter.Allocated(100);
  meter.Freed(60);
  EXPECT_EQ(peak.peak_above_start_bytes(), 100);
  EXPECT_EQ(peak.current_above_start_bytes(), 40);
  peak.Reset();
  EXPECT_EQ(peak.start_bytes(), 80);
  EXPECT_EQ(peak.peak_above_start_bytes(), 0);
}

}  // namespace
}  // namespace streamdit::engine
