#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <optional>

#include "engine/device/compute_stream.h"

namespace streamdit::engine {

struct ScopedComputeStream::Guard {
  explicit Guard(c10::cuda::CUDAStream stream) : stream(stream), guard(stream) {}
  c10::cuda::CUDAStream stream;
  c10::cuda::CUDAStreamGuard guard;  // also makes the stream's device current
};

ScopedComputeStream::ScopedComputeStream(const ExecutionTarget& target) {
  if (!target.device.is_cuda()) return;
  // One stream per (thread, device), taken from libtorch's pool once: a worker's launches run
  // one after another on it.
  thread_local std::optional<c10::cuda::CUDAStream> streams[64];
  const c10::DeviceIndex index = target.device.has_index() ? target.device.index() : 0;
  std::optional<c10::cuda::CUDAStream>& stream = streams[index % 64];
  if (!stream) stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/false, index);
  guard_ = std::make_unique<Guard>(*stream);
}

ScopedComputeStream::~ScopedComputeStream() = default;

void ScopedComputeStream::Synchronize() const {
  if (guard_) guard_->stream.synchronize();
}

}  // namespace streamdit::engine
