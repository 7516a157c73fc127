// Freed large host blocks are re-used (the same pages: no new first touches), the meters count
// blocks in use and never cached ones, the cache stays under its limit and can be emptied.
#include "engine/memory/caching_host_allocator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/memory/cpu_memory_meter.h"

namespace streamdit::engine {
namespace {

TEST(CachingHostAllocator, AFreedLargeBlockIsHandedOutAgain) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  CachingHostAllocator& cache = meter.host_cache();
  cache.EmptyCache();
  void* first = nullptr;
  {
    torch::Tensor a = torch::empty({3 << 20}, torch::kFloat);  // 12 MiB
    first = a.data_ptr();
  }
  EXPECT_GE(cache.cached_bytes(), int64_t{12} << 20);
  const int64_t before = meter.current_bytes();
  torch::Tensor b = torch::empty({3 << 20}, torch::kFloat);
  EXPECT_EQ(b.data_ptr(), first) << "the cached block was not re-used";
  EXPECT_EQ(meter.current_bytes() - before, (int64_t{12} << 20) + 64)
      << "a re-used block is counted like a new one";
  EXPECT_EQ(cache.cached_bytes(), 0);
}

TEST(CachingHostAllocator, CachedBytesAreNotCountedAsInUse) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  const int64_t before = meter.current_bytes();
  { torch::Tensor a = torch::ones({1 << 20}, torch::kFloat); }
  EXPECT_EQ(meter.current_bytes(), before);
  EXPECT_GT(meter.host_cache().cached_bytes(), 0);
}

TEST(CachingHostAllocator, TheLimitBoundsTheCacheAndZeroEmptiesIt) {
  CachingHostAllocator& cache = CpuMemoryMeter::Install().host_cache();
  cache.set_cached_limit_bytes(int64_t{8} << 20);
  {
    torch::Tensor a = torch::empty({3 << 20}, torch::kFloat);  // 12 MiB: above the limit
    torch::Tensor b = torch::empty({1 << 20}, torch::kFloat);  // 4 MiB: kept
  }
  EXPECT_LE(cache.cached_bytes(), int64_t{8} << 20);
  EXPECT_GT(cache.cached_bytes(), 0);
  cache.set_cached_limit_bytes(0);
  EXPECT_EQ(cache.cached_bytes(), 0);
  cache.set_cached_limit_bytes(int64_t{4} << 30);
}

TEST(CachingHostAllocator, ValuesWrittenBeforeReuseDoNotLeakIntoCorrectness) {
  CpuMemoryMeter::Install();
  { torch::Tensor a = torch::full({1 << 20}, 7.0f); }
  torch::Tensor zeros = torch::zeros({1 << 20});  // zeros() must write, whatever the block held
  EXPECT_EQ(zeros.abs().max().item<float>(), 0.0f);
}

}  // namespace
}  // namespace streamdit::engine
