// A job's budget as a hard ceiling (engine/memory/job_ceiling.h): the job's allocations count from
// zero, one that would cross the budget fails like a CUDA allocation on a full card and counts
// nothing, a ceiling nested in a device's meter obeys both limits, and the pipeline turns a refused
// allocation into RESOURCE_EXHAUSTED naming the phase and the budget.
#include "engine/memory/job_ceiling.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/status/exception_status.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(JobCeiling, CountsTheJobsBytesFromZeroAndRefusesTheOneThatCrossesTheBudget) {
  CpuMemoryMeter::Install();
  torch::Tensor before_the_job = torch::empty({3 * kMiB}, torch::kByte);
  ScopedJobCeiling ceiling(8 * kMiB);
  EXPECT_EQ(ceiling.current_bytes(), 0);
  EXPECT_EQ(ceiling.limit_bytes(), 8 * kMiB);
  torch::Tensor kept = torch::empty({6 * kMiB}, torch::kByte);
  EXPECT_GE(ceiling.current_bytes(), 6 * kMiB);
  const int64_t in_use = ceiling.current_bytes();
  const absl::Status status = StatusOfCall([] { torch::empty({4 * kMiB}, torch::kByte); });
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("out of memory: allocating"), absl::string_view::npos) << status;
  EXPECT_EQ(ceiling.current_bytes(), in_use);
  // Freeing what was there before the job gives the job nothing: its budget is its own bytes.
  before_the_job = torch::Tensor();
  EXPECT_EQ(ceiling.current_bytes(), in_use);
  EXPECT_FALSE(StatusOfCall([] { torch::empty({4 * kMiB}, torch::kByte); }).ok());
  kept = torch::Tensor();
  EXPECT_EQ(ceiling.current_bytes(), 0);
  EXPECT_TRUE(StatusOfCall([] { torch::empty({4 * kMiB}, torch::kByte); }).ok());
}

TEST(JobCeiling, ThreadsTheJobStartsInheritItThroughTheCharge) {
  CpuMemoryMeter::Install();
  ScopedJobCeiling ceiling(2 * kMiB);
  absl::Status worker_status;
  // The streaming prefetch worker starts this way (streaming_weight_provider.cc).
  std::thread([&, charged = ScopedDeviceCharge::Current()] {
    ScopedDeviceCharge charge(charged);
    worker_status = StatusOfCall([] { torch::empty({4 * kMiB}, torch::kByte); });
  }).join();
  EXPECT_EQ(worker_status.code(), absl::StatusCode::kResourceExhausted) << worker_status;
}

TEST(JobCeiling, NestedInADeviceMeterBothLimitsHoldAndBothCount) {
  CpuMemoryMeter::Install();
  MemoryMeter device;
  device.set_limit_bytes(10 * kMiB);
  ScopedDeviceCharge device_charge(&device);
  torch::Tensor other_job = torch::empty({6 * kMiB}, torch::kByte);
  {
    ScopedJobCeiling ceiling(8 * kMiB);
    // 5 MiB fits the job's 8 MiB but not the device's remaining 4 MiB.
    const absl::Status status = StatusOfCall([] { torch::empty({5 * kMiB}, torch::kByte); });
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
    const int64_t device_before = device.current_bytes();
    torch::Tensor fits = torch::empty({3 * kMiB}, torch::kByte);
    EXPECT_EQ(device.current_bytes() - device_before, ceiling.current_bytes());
  }
  other_job = torch::Tensor();
  EXPECT_EQ(device.current_bytes(), 0);
}

TEST(JobCeiling, AMeterIsReusedOnlyOnceNothingCountsInIt) {
  CpuMemoryMeter::Install();
  { ScopedJobCeiling warm(kMiB); }
  const int pool = ScopedJobCeiling::PoolSize();
  { ScopedJobCeiling clean(kMiB); }
  EXPECT_EQ(ScopedJobCeiling::PoolSize(), pool);
  torch::Tensor outlives_the_job;
  {
    ScopedJobCeiling job(2 * kMiB);
    outlives_the_job = torch::empty({kMiB}, torch::kByte);
  }
  // The first job's meter still counts the tensor, so the next job gets a fresh meter whose limit
  // a late free of that tensor can never loosen.
  {
    ScopedJobCeiling next(kMiB);
    EXPECT_EQ(next.current_bytes(), 0);
    outlives_the_job = torch::Tensor();
    EXPECT_EQ(next.current_bytes(), 0);
  }
  EXPECT_EQ(ScopedJobCeiling::PoolSize(), pool + 1);
}

TEST(JobCeiling, ABudgetMustBePositive) {
  EXPECT_EQ(StatusOfCall([] { ScopedJobCeiling ceiling(0); }).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace streamdit::engine
