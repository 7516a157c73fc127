#include "engine/memory/caching_host_allocator.h"

#include <sys/mman.h>

#include <atomic>
#include <utility>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

std::atomic<CachingHostAllocator*> instance{nullptr};

constexpr size_t kHugePage = size_t{2} << 20;

// Fresh large blocks: transparent huge pages where the kernel allows them ("madvise" mode).
void AdviseHugePages(void* data, size_t bytes) {
  const auto begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHugePage - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace

CachingHostAllocator::CachingHostAllocator(c10::Allocator* wrapped, int64_t cached_limit_bytes)
    : wrapped_(wrapped), cached_limit_bytes_(cached_limit_bytes) {
  CachingHostAllocator* expected = nullptr;
  if (!instance.compare_exchange_strong(expected, this)) {
    throw Internal("CachingHostAllocator: one per process");
  }
}

CachingHostAllocator::~CachingHostAllocator() {
  EmptyCache();
  instance.store(nullptr);
}

size_t CachingHostAllocator::RoundUp(size_t bytes) {
  // Coarse size classes make an exact fit likely when a pass repeats its allocations.
  const size_t granule = bytes >= (size_t{32} << 20) ? kHugePage : kMinCachedBytes;
  return (bytes + granule - 1) / granule * granule;
}

c10::DataPtr CachingHostAllocator::allocate(size_t bytes) {
  if (bytes < kMinCachedBytes) return wrapped_->allocate(bytes);
  const size_t rounded = RoundUp(bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = free_.lower_bound(rounded);
    if (found != free_.end() && found->first <= rounded + rounded / 8) {
      void* data = found->second.first;
      const Block block = found->second.second;
      free_.erase(found);
      cached_bytes_ -= static_cast<int64_t>(block.bytes);
      in_use_.emplace(data, block);
      return c10::DataPtr(data, data, &Return, c10::Device(c10::DeviceType::CPU));
    }
  }
  c10::DataPtr fresh = wrapped_->allocate(rounded);
  void* data = fresh.get();
  if (rounded >= 2 * kHugePage) AdviseHugePages(data, rounded);
  Block block;
  block.deleter = fresh.get_deleter();
  block.context = fresh.release_context();
  block.bytes = rounded;
  std::lock_guard<std::mutex> lock(mu_);
  in_use_.emplace(data, block);
  return c10::DataPtr(data, data, &Return, c10::Device(c10::DeviceType::CPU));
}

void CachingHostAllocator::Return(void* data) {
  if (data == nullptr) return;
  instance.load()->ReturnBlock(data);
}

void CachingHostAllocator::ReturnBlock(void* data) {
  Block block;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = in_use_.find(data);
    if (found == in_use_.end()) return;  // not ours: nothing to do (never happens)
    block = found->second;
    in_use_.erase(found);
    if (cached_bytes_ + static_cast<int64_t>(block.bytes) <= cached_limit_bytes_) {
      cached_bytes_ += static_cast<int64_t>(block.bytes);
      free_.emplace(block.bytes, std::make_pair(data, block));
      return;
    }
  }
  if (block.deleter) block.deleter(block.context);
}

int64_t CachingHostAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_bytes_;
}

void CachingHostAllocator::set_cached_limit_bytes(int64_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cached_limit_bytes_ = bytes;
  }
  if (bytes <= 0) EmptyCache();
}

void CachingHostAllocator::EmptyCache() {
  std::multimap<size_t, std::pair<void*, Block>> blocks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    blocks.swap(free_);
    cached_bytes_ = 0;
  }
  for (auto& [bytes, entry] : blocks) {
    if (entry.second.deleter) entry.second.deleter(entry.second.context);
  }
}

}  // namespace streamdit::engine
