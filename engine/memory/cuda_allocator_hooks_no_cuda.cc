// A build without CUDA (STREAMDIT_CUDA=OFF): there is no caching allocator to meter.
#include "engine/memory/cuda_device_meter.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

[[noreturn]] void NoCuda() {
  throw FailedPrecondition("this build has no CUDA (configure with -DSTREAMDIT_CUDA=ON)");
}

}  // namespace

void AttachCudaAllocatorTracker() { NoCuda(); }
void SetCudaReservedFraction(int, double) { NoCuda(); }
CudaAllocatorStats ReadCudaAllocatorStats(int) { NoCuda(); }
void ResetCudaPeakStats(int) { NoCuda(); }
bool ReleaseCudaCacheFor(int, int64_t, int64_t) { NoCuda(); }

}  // namespace streamdit::engine
