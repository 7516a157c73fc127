// Host memory reuse under the counting allocator. On the machines this runs on, the first touch of
// fresh pages is the dearest part of an allocation (here about 160 MB/s: a page fault per 4 KiB,
// in a VM), and the engine frees and re-allocates the same large tensors every block and every
// step (activations, converted weights). This allocator keeps freed large blocks and hands them
// out again, as CUDA's caching allocator does on a GPU, so that a pass re-uses pages it already
// touched; new large blocks ask the kernel for transparent huge pages (512x fewer faults).
//
// The counting allocator sits above it: the meters count the bytes of blocks in use, never the
// cached ones, so budgets, peaks and the device's hard ceiling mean what they meant. The cache is
// bounded (cached_limit_bytes; above it a freed block goes back to the system) and can be emptied.
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace streamdit::engine {

class CachingHostAllocator final : public c10::Allocator {
 public:
  // Blocks below this size come from the wrapped allocator directly (malloc's heap reuses them).
  static constexpr size_t kMinCachedBytes = size_t{256} << 10;

  // `wrapped` must outlive every block. At most one instance per process (its deleter is static).
  CachingHostAllocator(c10::Allocator* wrapped, int64_t cached_limit_bytes);
  ~CachingHostAllocator() override;

  c10::DataPtr allocate(size_t bytes) override;
  // Plain bytes: a block of this allocator is copied like any CPU block.
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
  c10::DeleterFnPtr raw_deleter() const override { return &Return; }

  int64_t cached_bytes() const;
  void set_cached_limit_bytes(int64_t bytes);
  // Gives every cached block back to the system.
  void EmptyCache();

 private:
  struct Block {
    void* context = nullptr;
    c10::DeleterFnPtr deleter = nullptr;
    size_t bytes = 0;
  };
  static void Return(void* data);
  void ReturnBlock(void* data);
  static size_t RoundUp(size_t bytes);

  c10::Allocator* wrapped_;
  mutable std::mutex mu_;
  int64_t cached_limit_bytes_;
  mutable int64_t cached_bytes_ = 0;
  mutable std::multimap<size_t, std::pair<void*, Block>> free_;  // by size: data, block
  mutable std::unordered_map<void*, Block> in_use_;
};

}  // namespace streamdit::engine
