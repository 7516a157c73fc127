// `cuda:N` devices at start, against what a (fake) CUDA runtime reports: the budget as bytes or a
// share of the card, less the reserve, refused when the card has not that much free, and a device
// the machine lacks named with the runtime's reason. Runs without a GPU: discovery is the seam.
#include <gtest/gtest.h>

#if STREAMDIT_CLI_SERVICE
#include "server/serve/cuda_device_settings.h"

namespace streamdit::server {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

std::vector<engine::CudaDeviceInfo> OneH100(int64_t free_bytes) {
  engine::CudaDeviceInfo card;
  card.index = 0;
  card.name = "NVIDIA H100 80GB HBM3";
  card.total_bytes = 80 * kGiB;
  card.free_bytes = free_bytes;
  card.compute_major = 9;
  return {card};
}

DeviceConfigSpec Cuda(int index, MemoryBudget budget, int64_t reserve = 0) {
  DeviceConfigSpec spec;
  spec.name = "cuda:" + std::to_string(index);
  spec.kind = DeviceKind::kCuda;
  spec.index = index;
  spec.budget = budget;
  spec.reserve_bytes = reserve;
  return spec;
}

TEST(CudaDeviceSettingsTest, ByteBudgetLessReserveBecomesTheSchedulersBudget) {
  const absl::StatusOr<DeviceSettings> settings =
      CudaDeviceSettings(Cuda(0, MemoryBudget{16 * kGiB}, kGiB), OneH100(79 * kGiB));
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->name, "cuda:0");
  EXPECT_EQ(settings->budget_bytes, 15 * kGiB);
  EXPECT_EQ(settings->cuda_index, 0);
  EXPECT_EQ(settings->total_bytes, 80 * kGiB);
}

TEST(CudaDeviceSettingsTest, FractionIsAShareOfTheCardsTotal) {
  const absl::StatusOr<DeviceSettings> settings =
      CudaDeviceSettings(Cuda(0, MemoryBudget{0, 0.5}), OneH100(79 * kGiB));
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->budget_bytes, 40 * kGiB);
}

TEST(CudaDeviceSettingsTest, MoreThanTheCardHasFreeIsRefusedNamingBothNumbers) {
  // Another process holds 70 GiB: 9 GiB free, the budget wants 16.
  const absl::StatusOr<DeviceSettings> settings =
      CudaDeviceSettings(Cuda(0, MemoryBudget{16 * kGiB}), OneH100(9 * kGiB));
  ASSERT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(settings.status().message());
  EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
  EXPECT_NE(message.find("16.00 GiB"), std::string::npos) << message;
  EXPECT_NE(message.find("9.00 GiB free"), std::string::npos) << message;
}

TEST(CudaDeviceSettingsTest, TheReserveIsPartOfWhatMustBeFree) {
  // The reserve is carved out of the budget (the CUDA context, fragmentation): the whole budget
  // must be free on the card, and the scheduler places work in the rest.
  const absl::StatusOr<DeviceSettings> fits =
      CudaDeviceSettings(Cuda(0, MemoryBudget{9 * kGiB}, kGiB), OneH100(9 * kGiB));
  ASSERT_TRUE(fits.ok()) << fits.status();
  EXPECT_EQ(fits->budget_bytes, 8 * kGiB);
  const absl::StatusOr<DeviceSettings> too_much =
      CudaDeviceSettings(Cuda(0, MemoryBudget{10 * kGiB}, kGiB), OneH100(9 * kGiB));
  ASSERT_EQ(too_much.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_much.status().message().find("reserve of 1.00 GiB"), std::string::npos)
      << too_much.status();
}

TEST(CudaDeviceSettingsTest, AMissingDeviceOrDriverIsNamed) {
  const absl::StatusOr<DeviceSettings> missing =
      CudaDeviceSettings(Cuda(1, MemoryBudget{kGiB}), OneH100(79 * kGiB));
  ASSERT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("1 CUDA device(s) are visible"), std::string::npos)
      << missing.status();
  const absl::StatusOr<DeviceSettings> no_driver = CudaDeviceSettings(
      Cuda(0, MemoryBudget{kGiB}), absl::UnavailableError("no CUDA-capable device is detected"));
  ASSERT_EQ(no_driver.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(no_driver.status().message().find("no CUDA-capable device is detected"),
            std::string::npos)
      << no_driver.status();
}

TEST(CudaDeviceSettingsTest, AllIsEveryVisibleCardWithTheEntrysBudget) {
  std::vector<engine::CudaDeviceInfo> cards = OneH100(79 * kGiB);
  cards.push_back(cards.front());
  cards.back().index = 1;
  cards.back().free_bytes = 70 * kGiB;
  DeviceConfigSpec all = Cuda(0, MemoryBudget{0, 0.5}, kGiB);
  all.index = DeviceConfigSpec::kAllCudaDevices;
  all.name = "cuda:all";
  const absl::StatusOr<std::vector<DeviceSettings>> devices = CudaDevicesSettings(all, cards);
  ASSERT_TRUE(devices.ok()) << devices.status();
  ASSERT_EQ(devices->size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ((*devices)[i].name, "cuda:" + std::to_string(i));
    EXPECT_EQ((*devices)[i].cuda_index, i);
    EXPECT_EQ((*devices)[i].budget_bytes, 39 * kGiB);
  }
  // One card without the room refuses the whole entry, naming that card.
  cards.back().free_bytes = 30 * kGiB;
  const absl::StatusOr<std::vector<DeviceSettings>> refused = CudaDevicesSettings(all, cards);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("cuda:1"), std::string::npos) << refused.status();
  // No driver: the runtime's reason.
  EXPECT_EQ(
      CudaDevicesSettings(all, absl::UnavailableError("no CUDA-capable device")).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace streamdit::server
#endif
