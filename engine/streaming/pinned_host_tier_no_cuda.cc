// PinHostTier in a build without CUDA: there is nothing to pin for, and no way to pin.
#include "engine/status/status_error.h"
#include "engine/streaming/pinned_host_tier.h"

namespace streamdit::engine {

int64_t PinHostTier(const std::vector<WeightBlock*>& blocks, const ExecutionTarget& target) {
  (void)blocks;
  if (target.is_cuda()) {
    throw FailedPrecondition("pinning the host tier for " + target.str() +
                             ": this build has no CUDA (configured with -DSTREAMDIT_CUDA=OFF)");
  }
  return 0;
}

}  // namespace streamdit::engine
