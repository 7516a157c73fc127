// The CUDA device meter's logic without a GPU: the caching allocator's events, played the way its
// trace tracker delivers them, move the routed device's meter (allocations on ALLOC, frees only
// when completed), windows see the peak, other devices' events are ignored; and a budget becomes
// the allocator's reserved share of the card.
#include "engine/memory/cuda_device_meter.h"

#include <gtest/gtest.h>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

// Routes a device index to a meter for the test's life without touching libtorch's allocator
// (MeterCudaDevice would attach to it, which needs a driver).
class RoutedMeter {
 public:
  explicit RoutedMeter(int index);
  ~RoutedMeter();
  MemoryMeter meter;

 private:
  int index_;
};

}  // namespace

// The routing half of MeterCudaDevice, for tests (cuda_device_meter.cc).
void RouteCudaDeviceForTesting(int index, MemoryMeter* meter);

namespace {

RoutedMeter::RoutedMeter(int index) : index_(index) { RouteCudaDeviceForTesting(index, &meter); }
RoutedMeter::~RoutedMeter() { RouteCudaDeviceForTesting(index_, nullptr); }

TEST(CudaDeviceMeterTest, AllocationsCountOnAllocAndFreesWhenCompleted) {
  RoutedMeter routed(3);
  ASSERT_EQ(CudaDeviceMeter(3), &routed.meter);
  MemoryMeter::Window window = routed.meter.OpenWindow();
  RecordCudaAllocatorEvent(3, CudaAllocatorEvent::kAlloc, 2 << 20);
  RecordCudaAllocatorEvent(3, CudaAllocatorEvent::kAlloc, 512);
  EXPECT_EQ(routed.meter.current_bytes(), (2 << 20) + 512);
  // A free that is only requested (the block is still used by another stream) is not counted:
  // the allocator reports FREE_REQUESTED as kOther and FREE_COMPLETED later.
  RecordCudaAllocatorEvent(3, CudaAllocatorEvent::kOther, 2 << 20);
  EXPECT_EQ(routed.meter.current_bytes(), (2 << 20) + 512);
  RecordCudaAllocatorEvent(3, CudaAllocatorEvent::kFreeCompleted, 2 << 20);
  EXPECT_EQ(routed.meter.current_bytes(), 512);
  EXPECT_EQ(window.peak_above_start_bytes(), (2 << 20) + 512);
  RecordCudaAllocatorEvent(3, CudaAllocatorEvent::kFreeCompleted, 512);
  EXPECT_EQ(routed.meter.current_bytes(), 0);
}

TEST(CudaDeviceMeterTest, BytesAreCountedInTheAllocatorsGranule) {
  // The tracker reports what was asked for; the allocator hands out 512-byte multiples, which is
  // what the plans count (AllocationBytes).
  RoutedMeter routed(4);
  RecordCudaAllocatorEvent(4, CudaAllocatorEvent::kAlloc, 1000);
  EXPECT_EQ(routed.meter.current_bytes(), 1024);
  RecordCudaAllocatorEvent(4, CudaAllocatorEvent::kAlloc, 1);
  EXPECT_EQ(routed.meter.current_bytes(), 1536);
  RecordCudaAllocatorEvent(4, CudaAllocatorEvent::kFreeCompleted, 1000);
  RecordCudaAllocatorEvent(4, CudaAllocatorEvent::kFreeCompleted, 1);
  EXPECT_EQ(routed.meter.current_bytes(), 0);
}

TEST(CudaDeviceMeterTest, EventsOfOtherDevicesAreNotThisDevicesBytes) {
  RoutedMeter zero(0);
  RoutedMeter one(1);
  RecordCudaAllocatorEvent(1, CudaAllocatorEvent::kAlloc, 4096);
  RecordCudaAllocatorEvent(2, CudaAllocatorEvent::kAlloc, 8192);  // unrouted: ignored
  RecordCudaAllocatorEvent(-1, CudaAllocatorEvent::kAlloc, 8192);
  RecordCudaAllocatorEvent(1000, CudaAllocatorEvent::kAlloc, 8192);
  EXPECT_EQ(zero.meter.current_bytes(), 0);
  EXPECT_EQ(one.meter.current_bytes(), 4096);
  EXPECT_EQ(CudaDeviceMeter(2), nullptr);
  RecordCudaAllocatorEvent(1, CudaAllocatorEvent::kFreeCompleted, 4096);
}

TEST(CudaDeviceMeterTest, ADetachedDeviceStopsCounting) {
  MemoryMeter meter;
  RouteCudaDeviceForTesting(5, &meter);
  RecordCudaAllocatorEvent(5, CudaAllocatorEvent::kAlloc, 1024);
  RouteCudaDeviceForTesting(5, nullptr);
  RecordCudaAllocatorEvent(5, CudaAllocatorEvent::kAlloc, 1024);
  EXPECT_EQ(meter.current_bytes(), 1024);
}

TEST(CudaDeviceMeterTest, TheBudgetIsTheAllocatorsShareOfTheCard) {
  constexpr int64_t kGiB = int64_t{1} << 30;
  EXPECT_DOUBLE_EQ(ReservedFraction(16 * kGiB, 80 * kGiB), 0.2);
  EXPECT_DOUBLE_EQ(ReservedFraction(80 * kGiB, 80 * kGiB), 1.0);
  EXPECT_DOUBLE_EQ(ReservedFraction(90 * kGiB, 80 * kGiB), 1.0);
  // What the allocator computes from the fraction never exceeds the budget.
  const int64_t budget = 12 * kGiB + 12345;
  const int64_t total = 79 * kGiB + 678;
  EXPECT_LE(static_cast<int64_t>(ReservedFraction(budget, total) * static_cast<double>(total)),
            budget);
  EXPECT_THROW(ReservedFraction(0, 80 * kGiB), StatusError);
  EXPECT_THROW(ReservedFraction(kGiB, 0), StatusError);
}

}  // namespace
}  // namespace streamdit::engine
