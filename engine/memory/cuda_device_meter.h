// A CUDA device's memory, measured and held to its budget.
//
// libtorch allocates CUDA tensors through its caching allocator, not through c10::GetAllocator, so
// the CPU's counting allocator (counting_allocator.h) cannot see them. Instead:
//  - Measurement: the caching allocator reports every allocation and every completed free to an
//    attached trace tracker; MeterCudaDevice routes those of cuda:N to the device's MemoryMeter
//    (Allocated on ALLOC, Freed on FREE_COMPLETED). The tracker reports the bytes asked for; the
//    meter rounds them up to the allocator's 512-byte granule, as AllocationBytes and the plans
//    do. (A large block the allocator declines to split can hold up to 1 MiB more; its own
//    statistics, ReadCudaAllocatorStats, count that, and the gpu tests hold them to the budget.)
//    Windows, peaks and the metrics then work as on the CPU.
//  - The ceiling: the allocator may reserve at most the budget on the card (its memory fraction);
//    an allocation beyond it fails in the allocator with c10::OutOfMemoryError, which the engine
//    reports as RESOURCE_EXHAUSTED and the scheduler re-plans, as on the CPU. The ceiling is on
//    reserved bytes (what the process takes from the card), which is what other tenants see.
//  - The cache: the allocator keeps freed blocks reserved. ReleaseCudaCacheFor frees them between
//    launches when the next launch would not fit beside them.
//
// The routing table is plain C++ (tested on the CPU by feeding it events the way the tracker
// does); the libtorch hooks live in cuda_allocator_hooks_cuda.cc, and a build without CUDA gets
// cuda_allocator_hooks_no_cuda.cc, whose calls throw FAILED_PRECONDITION.
#pragma once

#include <cstdint>

#include "engine/memory/memory_meter.h"

namespace streamdit::engine {

// What the caching allocator did, as the meter counts it.
enum class CudaAllocatorEvent { kAlloc, kFreeCompleted, kOther };

// Routes cuda:`index`'s allocator events to `meter` (nullptr stops routing; events of an unrouted
// device are ignored). The first call attaches the tracker to libtorch's allocator; `meter` must
// outlive the routing. Also caps what the allocator may reserve on the card at `budget_bytes`
// (out of `total_bytes`, the card's memory); 0 leaves the cap as it is.
void MeterCudaDevice(int index, MemoryMeter* meter, int64_t budget_bytes, int64_t total_bytes);
// The meter cuda:`index`'s events go to; nullptr when none.
MemoryMeter* CudaDeviceMeter(int index);
// What the tracker calls for each event (and what tests call to play the allocator's part).
void RecordCudaAllocatorEvent(int index, CudaAllocatorEvent event, int64_t bytes);

// The share of the card the allocator may reserve so that reserved bytes stay within
// `budget_bytes`: budget / total, clamped to (0, 1]. INVALID_ARGUMENT (thrown) for a total <= 0 or
// a budget <= 0.
double ReservedFraction(int64_t budget_bytes, int64_t total_bytes);

// The caching allocator's own figures for one device.
struct CudaAllocatorStats {
  int64_t allocated_bytes = 0;  // in tensors now
  int64_t reserved_bytes = 0;   // taken from the card (tensors + cached free blocks)
  int64_t peak_allocated_bytes = 0;
  int64_t peak_reserved_bytes = 0;
};
CudaAllocatorStats ReadCudaAllocatorStats(int index);
void ResetCudaPeakStats(int index);
// Frees the allocator's cached blocks when `needed_bytes` more would not fit under `limit_bytes`
// beside what is reserved now; returns whether it did. Cached blocks are reused by the next
// launch when they fit, so they are kept while there is room.
bool ReleaseCudaCacheFor(int index, int64_t needed_bytes, int64_t limit_bytes);

}  // namespace streamdit::engine
