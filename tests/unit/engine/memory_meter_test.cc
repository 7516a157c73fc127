// The CPU memory meter: the counting allocator installed as libtorch's CPU allocator counts every
// tensor allocation, frees return the counts, and memory it did not hand out never touches them.
// Under ctest each test runs in its own process; run as one binary, all tests share one installed
// allocator (installed by the first test that needs it), which they all tolerate.
#include <ATen/ATen.h>
#include <ATen/EmptyTensor.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/memory/counting_allocator.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/support/build_paths.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kHeader = static_cast<int64_t>(CountingAllocator::kHeaderBytes);

TEST(CpuMemoryMeterTest, InstallIsIdempotentAndReplacesTheCpuAllocator) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  EXPECT_EQ(&CpuMemoryMeter::Install(), &meter);
  EXPECT_TRUE(CpuMemoryMeter::IsInstalled());
  EXPECT_EQ(meter.device_name(), "cpu");
  c10::Allocator* installed = c10::GetCPUAllocator();
  EXPECT_NE(dynamic_cast<CountingAllocator*>(installed), nullptr);
  // The wrapped allocator is the one libtorch had (its default), not ourselves.
  EXPECT_EQ(meter.wrapped_allocator(), c10::GetDefaultCPUAllocator());
}

TEST(CpuMemoryMeterTest, EmptyTensorRaisesCurrentAndPeakAndFreeingRestoresCurrent) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  const int64_t before = meter.current_bytes();
  meter.ResetPeak();
  EXPECT_EQ(meter.peak_bytes(), before);
  constexpr int64_t kBytes = 3 << 20;
  {
    at::Tensor tensor = at::empty({kBytes}, at::kByte);
    // Exactly the tensor's bytes plus the block header.
    EXPECT_EQ(meter.current_bytes() - before, kBytes + kHeader);
    EXPECT_EQ(meter.peak_bytes(), before + kBytes + kHeader);
    // The data keeps libtorch's CPU alignment despite the header in front of it.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data_ptr()) % c10::gAlignment, 0u);
    tensor.fill_(7);
    EXPECT_EQ(tensor.sum().item<int64_t>(), 7 * kBytes);
  }
  EXPECT_EQ(meter.current_bytes(), before);
  // The peak stays until reset (the sum's int64 temporaries may have raised it further).
  EXPECT_GE(meter.peak_bytes(), before + kBytes + kHeader);
  meter.ResetPeak();
  EXPECT_EQ(meter.peak_bytes(), before);
}

TEST(CpuMemoryMeterTest, ZeroSizedTensorsCountNothing) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  const int64_t before = meter.current_bytes();
  {
    at::Tensor empty = at::empty({0, 16}, at::kFloat);
    EXPECT_EQ(meter.current_bytes(), before);
  }
  EXPECT_EQ(meter.current_bytes(), before);
}

TEST(CpuMemoryMeterTest, RawAllocateAndRawDeallocateStillWork) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  c10::Allocator* allocator = c10::GetCPUAllocator();
  ASSERT_NE(allocator->raw_deleter(), nullptr);
  const int64_t before = meter.current_bytes();
  void* raw = allocator->raw_allocate(1000);  // asserts that context == data inside libtorch
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(meter.current_bytes() - before, 1000 + kHeader);
  static_cast<char*>(raw)[999] = 1;
  allocator->raw_deallocate(raw);
  EXPECT_EQ(meter.current_bytes(), before);
}

TEST(CpuMemoryMeterTest, MatmulTemporariesShowInThePeakButNotAfterwards) {
  CpuMemoryMeter::Install();  // ScopedPeak installs it too; explicit here for clarity
  const at::Tensor x = at::rand({128, 256});
  const at::Tensor w = at::rand({256, 192});
  const at::Tensor bias = at::rand({192});
  const int64_t output_bytes = 128 * 192 * static_cast<int64_t>(sizeof(float));
  ScopedPeak peak;
  at::Tensor y = at::add(at::matmul(x, w), bias);
  // The matmul's product is a temporary alive together with the sum.
  EXPECT_GE(peak.peak_above_start_bytes(), 2 * output_bytes);
  EXPECT_EQ(peak.current_above_start_bytes(), output_bytes + kHeader);
  EXPECT_TRUE(at::allclose(y, at::mm(x, w) + bias));
  y = at::Tensor();
  EXPECT_EQ(peak.current_above_start_bytes(), 0);
}

TEST(CpuMemoryMeterTest, ConcurrentAllocationFromFourThreadsEndsAtTheBaseline) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  const int64_t baseline = meter.current_bytes();
  ScopedPeak peak;
  std::atomic<int> holding{0};
  std::vector<int64_t> held_bytes(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &holding, &held_bytes] {
      std::vector<at::Tensor> live;
      for (int round = 0; round < kRounds; ++round) {
        live.push_back(at::empty({64 + 37 * ((round * 7 + t) % 50)}, at::kByte));
        if (live.size() > 8) live.erase(live.begin() + (round % live.size()));
      }
      live.clear();
      // All threads hold one tensor each at the same time: the peak must include their sum.
      const int64_t bytes = (t + 1) << 20;
      held_bytes[t] = bytes;
      at::Tensor held = at::empty({bytes}, at::kByte);
      holding.fetch_add(1);
      while (holding.load() < kThreads) std::this_thread::yield();
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(meter.current_bytes(), baseline);
  int64_t all_held = 0;
  for (int64_t bytes : held_bytes) all_held += bytes + kHeader;
  EXPECT_GE(peak.peak_above_start_bytes(), all_held);
  EXPECT_GE(meter.peak_bytes(), baseline + all_held);
}

TEST(CpuMemoryMeterTest, MemoryAllocatedBeforeInstallIsFreedWithoutTouchingTheCounts) {
  // Under ctest this test is alone in its process, so the allocator is not installed yet and the
  // first tensor truly predates it.
  at::Tensor before_install;
  if (!CpuMemoryMeter::IsInstalled()) before_install = at::empty({1 << 20}, at::kByte);
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  // What a pre-install tensor holds: a block from the allocator we wrap, with its own deleter.
  at::Tensor from_wrapped = at::detail::empty_generic({1 << 20}, meter.wrapped_allocator(),
                                                      c10::DispatchKeySet(c10::DispatchKey::CPU),
                                                      at::kByte, c10::nullopt);
  const int64_t after_install = meter.current_bytes();
  ASSERT_GE(after_install, 0);
  before_install = at::Tensor();
  from_wrapped = at::Tensor();
  EXPECT_EQ(meter.current_bytes(), after_install);
  EXPECT_GE(meter.current_bytes(), 0);
}

TEST(CpuMemoryMeterTest, FromBlobViewsAndMappedWeightsAreNotCounted) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  const int64_t before = meter.current_bytes();
  std::vector<float> values(4096);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  {
    at::Tensor view = at::from_blob(values.data(), {64, 64}, at::kFloat);
    EXPECT_EQ(meter.current_bytes(), before);
    // A copy is ours, and counted.
    at::Tensor copy = view.clone();
    EXPECT_EQ(meter.current_bytes() - before, 4096 * 4 + kHeader);
  }
  EXPECT_EQ(meter.current_bytes(), before);

  // Weights viewed zero-copy in a mapped safetensors file.
  const std::filesystem::path path =
      std::filesystem::path(build_paths::BinaryDir()) /
      ("memory_meter_test_" + std::to_string(::getpid()) + ".safetensors");
  SafetensorsWriter writer;
  writer.Add("weight", DType::kF32, {64, 64}, values.data(), values.size() * sizeof(float));
  writer.Write(path.string());
  {
    Checkpoint checkpoint = Checkpoint::Open(path.string());
    const int64_t opened = meter.current_bytes();
    at::Tensor weight = ViewTensor(checkpoint.Require("weight"));
    EXPECT_EQ(meter.current_bytes(), opened);
    EXPECT_EQ(weight[63][63].item<float>(), 4095.0f);
    weight = at::Tensor();
    EXPECT_EQ(meter.current_bytes(), opened);
  }
  std::filesystem::remove(path);
  EXPECT_EQ(meter.current_bytes(), before);
}

TEST(CpuMemoryMeterTest, WindowsMeasureOneJobWhileTheProcessPeakIsUntouched) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  meter.ResetPeak();
  const int64_t start = meter.current_bytes();
  MemoryMeter::Window job = meter.OpenWindow();
  { at::Tensor big = at::empty({2 << 20}, at::kByte); }
  EXPECT_EQ(job.peak_above_start_bytes(), (2 << 20) + kHeader);
  job.ResetPeak();
  EXPECT_EQ(job.peak_above_start_bytes(), 0);
  // Resetting the window left the process-wide peak alone.
  EXPECT_EQ(meter.peak_bytes(), start + (2 << 20) + kHeader);
}

}  // namespace
}  // namespace streamdit::engine
