// The CUDA devices this process can use, read from the CUDA runtime: how many, their names and
// memory. The one place the engine asks the driver what exists, so that the server's discovery and
// the GPU tests agree, and so that a machine without a driver is a clear status, never a crash.
//
// Compiled with nvcc in the CUDA configuration (STREAMDIT_CUDA); the CPU-only build gets a version
// that reports "this build has no CUDA" (cuda_devices_none.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace streamdit::engine {

struct CudaDeviceInfo {
  int index = 0;            // cuda:index
  std::string name;         // "NVIDIA H100 80GB HBM3"
  int64_t total_bytes = 0;  // the card's memory (cudaMemGetInfo total)
  int64_t free_bytes = 0;   // free when asked (cudaMemGetInfo free): other processes' use counts
  int compute_major = 0;    // compute capability, e.g. 9.0 for Hopper
  int compute_minor = 0;
};

// Every visible device (CUDA_VISIBLE_DEVICES applies). UNAVAILABLE naming the runtime's reason when
// there is no driver or no device ("no CUDA-capable device is detected"), or when the build has no
// CUDA; INTERNAL for any other runtime error.
absl::StatusOr<std::vector<CudaDeviceInfo>> DiscoverCudaDevices();

// Whether this binary was built with the CUDA path (STREAMDIT_CUDA).
bool BuiltWithCuda();

}  // namespace streamdit::engine
