// Per-device accounting on the CPU: allocations made inside a ScopedDeviceCharge count on that
// device's meter (and the process's), are released against it whichever thread frees them, and
// an allocation above the device's limit fails like a CUDA allocation on a full card.
#include "engine/memory/device_charge.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/status/exception_status.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(DeviceCharge, AllocationsCountOnTheDeviceAndAreReleasedFromAnyThread) {
  CpuMemoryMeter& process = CpuMemoryMeter::Install();
  MemoryMeter device;
  const int64_t process_before = process.current_bytes();
  torch::Tensor tensor;
  {
    ScopedDeviceCharge charge(&device);
    tensor = torch::empty({4 * kMiB}, torch::kByte);
  }
  EXPECT_GE(device.current_bytes(), 4 * kMiB);
  EXPECT_EQ(device.current_bytes(), process.current_bytes() - process_before);
  // Freed on another thread, outside any charge: still released against the device.
  std::thread([moved = std::move(tensor)]() mutable { moved = torch::Tensor(); }).join();
  EXPECT_EQ(device.current_bytes(), 0);
  EXPECT_GE(device.peak_bytes(), 4 * kMiB);
}

TEST(DeviceCharge, AnAllocationAboveTheLimitFailsAndCountsNothing) {
  CpuMemoryMeter::Install();
  MemoryMeter device;
  device.set_limit_bytes(8 * kMiB);
  ScopedDeviceCharge charge(&device);
  torch::Tensor kept = torch::empty({6 * kMiB}, torch::kByte);
  const int64_t in_use = device.current_bytes();
  absl::Status status = StatusOfCall([] { torch::empty({4 * kMiB}, torch::kByte); });
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("out of memory: allocating"), absl::string_view::npos);
  EXPECT_EQ(device.current_bytes(), in_use);
  EXPECT_LE(device.peak_bytes(), 8 * kMiB);
  kept = torch::Tensor();
  EXPECT_TRUE(StatusOfCall([] { torch::empty({4 * kMiB}, torch::kByte); }).ok());
}

TEST(DeviceCharge, TwoDevicesOnTwoThreadsSumToTheProcess) {
  CpuMemoryMeter& process = CpuMemoryMeter::Install();
  MemoryMeter first, second;
  const int64_t before = process.current_bytes();
  torch::Tensor a, b;
  std::thread one([&] {
    ScopedDeviceCharge charge(&first);
    a = torch::ones({1000, 1000});
  });
  std::thread two([&] {
    ScopedDeviceCharge charge(&second);
    b = torch::ones({300, 1000}) * 2;
  });
  one.join();
  two.join();
  EXPECT_GT(first.current_bytes(), second.current_bytes());
  EXPECT_EQ(first.current_bytes() + second.current_bytes(), process.current_bytes() - before);
  a = torch::Tensor();
  b = torch::Tensor();
  EXPECT_EQ(first.current_bytes(), 0);
  EXPECT_EQ(second.current_bytes(), 0);
}

TEST(DeviceCharge, ScopesNestAndRestore) {
  MemoryMeter outer, inner;
  EXPECT_EQ(ScopedDeviceCharge::Current(), nullptr);
  {
    ScopedDeviceCharge a(&outer);
    {
      ScopedDeviceCharge b(&inner);
      EXPECT_EQ(ScopedDeviceCharge::Current(), &inner);
    }
    EXPECT_EQ(ScopedDeviceCharge::Current(), &outer);
  }
  EXPECT_EQ(ScopedDeviceCharge::Current(), nullptr);
}

}  // namespace
}  // namespace streamdit::engine
