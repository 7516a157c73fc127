#include "engine/device/compute_stream.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

struct ScopedComputeStream::Guard {};

ScopedComputeStream::ScopedComputeStream(const ExecutionTarget& target) {
  if (target.device.is_cuda()) {
    throw FailedPrecondition("cannot compute on " + target.str() +
                             ": this build has no CUDA (configure with -DSTREAMDIT_CUDA=ON)");
  }
}

ScopedComputeStream::~ScopedComputeStream() = default;

void ScopedComputeStream::Synchronize() const {}

}  // namespace streamdit::engine
