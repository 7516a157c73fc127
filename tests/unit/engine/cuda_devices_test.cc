// DiscoverCudaDevices on the machine the suite runs on: either devices with names and memory, or
// (no driver, no device, a CPU-only build) UNAVAILABLE naming the runtime's reason — never a crash
// and never another code, because the server turns that status into its start-up message.
#include "engine/device/cuda_devices.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace streamdit::engine {
namespace {

TEST(CudaDevices, ListsDevicesOrSaysWhyThereAreNone) {
  const absl::StatusOr<std::vector<CudaDeviceInfo>> devices = DiscoverCudaDevices();
  if (!devices.ok()) {
    EXPECT_EQ(devices.status().code(), absl::StatusCode::kUnavailable) << devices.status();
    const absl::string_view reason = devices.status().message();
    if (BuiltWithCuda()) {
      // The runtime call that failed and its own words, e.g. "cudaGetDeviceCount:
      // cudaErrorNoDevice (no CUDA-capable device is detected)".
      EXPECT_TRUE(absl::StartsWith(reason, "cudaGetDeviceCount")) << reason;
    } else {
      EXPECT_TRUE(absl::StrContains(reason, "STREAMDIT_CUDA")) << reason;
    }
    return;
  }
  ASSERT_FALSE(devices->empty());
  for (size_t i = 0; i < devices->size(); ++i) {
    const CudaDeviceInfo& device = (*devices)[i];
    EXPECT_EQ(device.index, static_cast<int>(i));
    EXPECT_FALSE(device.name.empty());
    EXPECT_GT(device.total_bytes, 0);
    EXPECT_LE(device.free_bytes, device.total_bytes);
    EXPECT_GE(device.compute_major, 5);
  }
}

TEST(CudaDevices, AnsweringTwiceGivesTheSameAnswer) {
  // The runtime's first failure must not poison later calls (the server asks at start and again
  // for status).
  const auto first = DiscoverCudaDevices();
  const auto second = DiscoverCudaDevices();
  EXPECT_EQ(first.ok(), second.ok());
  EXPECT_EQ(first.status().code(), second.status().code());
  if (first.ok()) {
    EXPECT_EQ(first->size(), second->size());
  }
}

}  // namespace
}  // namespace streamdit::engine
