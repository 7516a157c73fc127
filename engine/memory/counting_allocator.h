// A libtorch allocator that forwards to another and counts the bytes of every block it hands out
// in a MemoryMeter, until the block's deleter runs.
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>

#include "engine/memory/memory_meter.h"

namespace streamdit::engine {

// Each block carries a small header in front of the data (kHeaderBytes, a multiple of libtorch's
// CPU alignment so the data stays aligned) with the wrapped allocator's context and deleter, the
// counted size and the meter. The DataPtr's context is the data pointer itself, so the "raw"
// interface (raw_allocate / raw_deallocate, which require context == data) keeps working, and no
// extra heap allocation happens per tensor. The counted size includes the header: it is memory the
// block really takes.
//
// Blocks that did not come from this allocator (made before it was installed, from_blob views of
// mapped weights) carry other deleters, so freeing them never touches the counts.
class CountingAllocator final : public c10::Allocator {
 public:
  static constexpr size_t kHeaderBytes = 64;

  // `wrapped` and `meter` must outlive every block this allocator hands out (process-wide
  // allocators and meters are never destroyed).
  CountingAllocator(c10::Allocator* wrapped, MemoryMeter* meter);

  c10::DataPtr allocate(size_t bytes) override;
  // Plain bytes: a block of this allocator is copied like any CPU block.
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }
  c10::DeleterFnPtr raw_deleter() const override { return &DeleteBlock; }

  c10::Allocator* wrapped() const { return wrapped_; }

 private:
  static void DeleteBlock(void* data);

  c10::Allocator* wrapped_;
  MemoryMeter* meter_;
};

}  // namespace streamdit::engine
