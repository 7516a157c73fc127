// MakeSlotTransfer in a build without CUDA (-DSTREAMDIT_CUDA=OFF): the CPU transfer only; a CUDA
// target is refused, naming the build, rather than streamed by memcpy into device pointers.
#include "engine/status/status_error.h"
#include "engine/streaming/slot_transfer.h"

namespace streamdit::engine {

std::unique_ptr<SlotTransfer> MakeSlotTransfer(const ExecutionTarget& target, int slots,
                                               bool background) {
  if (target.is_cuda()) {
    throw FailedPrecondition("streaming weights to " + target.str() +
                             ": this build has no CUDA (configured with -DSTREAMDIT_CUDA=OFF)");
  }
  return std::make_unique<CpuSlotTransfer>(slots, background);
}

}  // namespace streamdit::engine
