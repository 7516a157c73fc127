// The stream a launch computes on. On a CUDA target, every kernel the engine queues goes to one
// compute stream per thread that runs launches (a device worker), made current on the target's
// device for the scope's life (libtorch's stream guard), so that launches of different workers
// never share a stream and the streaming copies (engine/streaming/slot_transfer.h) can be ordered
// against it with events. On the CPU the scope does nothing.
#pragma once

#include <memory>

#include "engine/device/execution_target.h"

namespace streamdit::engine {

class ScopedComputeStream {
 public:
  // Throws StatusError FAILED_PRECONDITION for a CUDA target in a build without CUDA.
  explicit ScopedComputeStream(const ExecutionTarget& target);
  ~ScopedComputeStream();
  ScopedComputeStream(const ScopedComputeStream&) = delete;
  ScopedComputeStream& operator=(const ScopedComputeStream&) = delete;

  // Blocks until the work queued on the stream so far has finished (no-op on the CPU).
  void Synchronize() const;

 private:
  struct Guard;
  std::unique_ptr<Guard> guard_;
};

}  // namespace streamdit::engine
