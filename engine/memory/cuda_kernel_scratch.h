// The scratch CUDA kernels take beyond their outputs, through the caching allocator, as the memory
// plans count it on a CUDA device (job_memory_plan.cc adds it to every component's held bytes).
//
// From libtorch 2.x's sources (not yet measured on a GPU: scripts/device-check's "allocator's own
// peak within the budget" test is what checks it):
//  - cuBLAS gets a workspace per (handle, stream) from the caching allocator, 32 MiB by default on
//    Hopper (CUBLAS_WORKSPACE_CONFIG ":4096:8"), kept for the stream's life; cuBLASLt's matmuls
//    take theirs (up to 4 MiB by default) the same way;
//  - fused attention (flash / memory-efficient SDPA) writes a float32 log-sum-exp per query row
//    and head beside its output.
#pragma once

#include <cstdint>

namespace streamdit::engine {

// cuBLAS's workspace plus cuBLASLt's, for the one compute stream a launch runs on.
inline constexpr int64_t kCudaBlasWorkspaceBytes = (int64_t{32} << 20) + (int64_t{4} << 20);

// Fused attention's log-sum-exp over `batch` x `heads` x `query_rows`, float32, with the 512-byte
// rounding of one allocation.
inline int64_t CudaAttentionScratchBytes(int64_t batch, int64_t heads, int64_t query_rows) {
  return (batch * heads * query_rows * 4 + 511) / 512 * 512;
}

}  // namespace streamdit::engine
