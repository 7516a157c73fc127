#include "server/config/config_values.h"

#include <gtest/gtest.h>

#include <string>

namespace streamdit::server {
namespace {

using std::chrono::milliseconds;

TEST(ParseByteSize, AcceptsBytesAndBinaryAndDecimalUnits) {
  EXPECT_EQ(*ParseByteSize("8589934592"), 8589934592);
  EXPECT_EQ(*ParseByteSize("0"), 0);
  EXPECT_EQ(*ParseByteSize("512B"), 512);
  EXPECT_EQ(*ParseByteSize("4GiB"), int64_t{4} << 30);
  EXPECT_EQ(*ParseByteSize("4 GiB"), int64_t{4} << 30);
  EXPECT_EQ(*ParseByteSize("768MiB"), int64_t{768} << 20);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), int64_t{3} << 29);
  EXPECT_EQ(*ParseByteSize("2KiB"), 2048);
  EXPECT_EQ(*ParseByteSize("1TiB"), int64_t{1} << 40);
  EXPECT_EQ(*ParseByteSize("16GB"), 16000000000);
  EXPECT_EQ(*ParseByteSize("3kb"), 3000);
  EXPECT_EQ(*ParseByteSize("2mb"), 2000000);
  EXPECT_EQ(*ParseByteSize("9223372036854775807"), INT64_MAX);  // exact, no rounding via double
}

TEST(ParseByteSize, RejectsWhatIsNotAByteCountAndSaysWhatIsAllowed) {
  for (const char* text : {"", "-1", "-4GiB", "GiB", "4 GiBs", "4Gi", "1.5", "1.", "0x10", "4  GiB",
                           "9223372036854775808", "9000000TiB", "90%", "four"}) {
    const absl::StatusOr<int64_t> bytes = ParseByteSize(text);
    ASSERT_FALSE(bytes.ok()) << text;
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(bytes.status().message());
    EXPECT_NE(message.find(std::string("\"") + text + "\""), std::string::npos) << message;
    EXPECT_NE(message.find("GiB"), std::string::npos) << message;
  }
  EXPECT_NE(std::string(ParseByteSize("-1").status().message()).find("negative"),
            std::string::npos);
}

TEST(ParseDuration, AcceptsUnitsAndSums) {
  EXPECT_EQ(*ParseDuration("30s"), milliseconds(30000));
  EXPECT_EQ(*ParseDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseDuration("2m"), milliseconds(120000));
  EXPECT_EQ(*ParseDuration("1h"), milliseconds(3600000));
  EXPECT_EQ(*ParseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(*ParseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*ParseDuration("0s"), milliseconds(0));
}

TEST(ParseDuration, RejectsBareNumbersNegativesAndUnknownUnits) {
  for (const char* text : {"", "30", "-1s", "30 s", "1d", "s", "1.s", "99999999999h"}) {
    const absl::StatusOr<milliseconds> duration = ParseDuration(text);
    ASSERT_FALSE(duration.ok()) << text;
    EXPECT_EQ(duration.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(duration.status().message()).find("ms, s, m or h"), std::string::npos);
  }
}

TEST(ParseMemoryBudget, BytesOrAPercentage) {
  const absl::StatusOr<MemoryBudget> bytes = ParseMemoryBudget("15GiB");
  ASSERT_TRUE(bytes.ok());
  EXPECT_FALSE(bytes->is_fraction());
  EXPECT_EQ(bytes->Resolve(0), int64_t{15} << 30);

  const absl::StatusOr<MemoryBudget> share = ParseMemoryBudget("90%");
  ASSERT_TRUE(share.ok());
  EXPECT_TRUE(share->is_fraction());
  EXPECT_DOUBLE_EQ(share->fraction, 0.9);
  EXPECT_EQ(share->Resolve(1000), 900);
  EXPECT_DOUBLE_EQ(ParseMemoryBudget("92.5%")->fraction, 0.925);
  EXPECT_DOUBLE_EQ(ParseMemoryBudget("100%")->fraction, 1.0);

  for (const char* text : {"0%", "101%", "-5%", "%", "abc%", "0", "0GiB"}) {
    EXPECT_EQ(ParseMemoryBudget(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(DeviceConfigSpec, EffectiveBudgetSubtractsTheReserve) {
  DeviceConfigSpec device = *ParseDeviceName("cuda:0");
  device.budget = *ParseMemoryBudget("95%");
  device.reserve_bytes = int64_t{1} << 30;
  const int64_t total = int64_t{16} << 30;
  EXPECT_EQ(*device.EffectiveBudget(total),
            static_cast<int64_t>(0.95 * static_cast<double>(total)) - (int64_t{1} << 30));
  device.reserve_bytes = total;
  const absl::StatusOr<int64_t> none = device.EffectiveBudget(total);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(none.status().message()).find("cuda:0"), std::string::npos);
}

TEST(ParseListenAddress, HostPortIpv6AndUnix) {
  EXPECT_EQ(*ParseListenAddress("0.0.0.0:50051", true), "0.0.0.0:50051");
  EXPECT_EQ(*ParseListenAddress("localhost:0", true), "localhost:0");
  EXPECT_EQ(*ParseListenAddress("[::]:50051", true), "[::]:50051");
  EXPECT_EQ(*ParseListenAddress("[::1]:9090", false), "[::1]:9090");
  EXPECT_EQ(*ParseListenAddress("unix:/run/streamdit.sock", true), "unix:/run/streamdit.sock");
  for (const char* text : {"", "50051", ":50051", "host:", "host:65536", "host:-1", "host:http",
                           "::1:50051", "[::1:50051", "bad host:1", "unix:"}) {
    EXPECT_EQ(ParseListenAddress(text, true).status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
  EXPECT_FALSE(ParseListenAddress("unix:/run/metrics.sock", false).ok());
}

TEST(ParseDeviceName, NormalizesAndRejects) {
  const DeviceConfigSpec cpu = *ParseDeviceName("cpu");
  EXPECT_EQ(cpu.name, "cpu:0");
  EXPECT_EQ(cpu.kind, DeviceKind::kCpu);
  const DeviceConfigSpec cuda = *ParseDeviceName("cuda:3");
  EXPECT_EQ(cuda.name, "cuda:3");
  EXPECT_EQ(cuda.kind, DeviceKind::kCuda);
  EXPECT_EQ(cuda.index, 3);
  const DeviceConfigSpec all = *ParseDeviceName("cuda:all");
  EXPECT_EQ(all.name, "cuda:all");
  EXPECT_EQ(all.kind, DeviceKind::kCuda);
  EXPECT_EQ(all.index, DeviceConfigSpec::kAllCudaDevices);
  for (const char* text : {"", "gpu:0", "cuda:", "cuda:x", "cuda:-1", "cuda:1024", "cpu:0:1",
                           "CUDA:0", "cuda0", "cpu:all", "cuda:ALL"}) {
    const absl::StatusOr<DeviceConfigSpec> device = ParseDeviceName(text);
    ASSERT_FALSE(device.ok()) << text;
    EXPECT_NE(std::string(device.status().message()).find("cuda:N"), std::string::npos);
  }
}

TEST(ParseEnums, NameTheAllowedValues) {
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(*ParseModelFamily("schnell"), ModelFamily::kSchnell);
  EXPECT_EQ(*ParseHostStorage("fp8"), HostStorage::kFp8);
  EXPECT_EQ(*ParseHostStorage("as-stored"), HostStorage::kAsStored);
  EXPECT_EQ(*ParseComputeDtype("bf16"), ComputeDtype::kBf16);
  const absl::Status status = ParseModelFamily("pro").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find("must be one of dev, schnell"), std::string::npos);
  EXPECT_STREQ(LogLevelName(*ParseLogLevel("trace")), "trace");
  EXPECT_STREQ(HostStorageName(HostStorage::kAsStored), "bf16");
}

TEST(CheckModelName, LettersDigitsDotsDashes) {
  EXPECT_TRUE(CheckModelName("flux1-dev_v1.0").ok());
  EXPECT_FALSE(CheckModelName("").ok());
  EXPECT_FALSE(CheckModelName("a b").ok());
  EXPECT_FALSE(CheckModelName("a/b").ok());
  EXPECT_FALSE(CheckModelName(std::string(65, 'a')).ok());
}

TEST(Format, ReadableSizesAndDurations) {
  EXPECT_EQ(FormatByteSize(int64_t{8} << 30), "8 GiB");
  EXPECT_EQ(FormatByteSize(int64_t{3} << 29), "1.5 GiB");
  EXPECT_EQ(FormatByteSize(512), "512 B");
  EXPECT_EQ(FormatDuration(milliseconds(30000)), "30s");
  EXPECT_EQ(FormatDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(FormatDuration(milliseconds(1500)), "1.5s");
}

}  // namespace
}  // namespace streamdit::server
