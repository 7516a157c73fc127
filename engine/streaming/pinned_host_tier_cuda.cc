// PinHostTier with the CUDA runtime: cudaHostAlloc for each tensor's exact bytes. (libtorch's
// pinned caching allocator, behind Tensor::pin_memory, rounds every block up to a power of two,
// which would cost up to twice a model's host tier; and it keeps freed blocks cached.)
#include <cuda_runtime_api.h>

#include <cstring>
#include <string>

#include "engine/status/status_error.h"
#include "engine/streaming/pinned_host_tier.h"

namespace streamdit::engine {
namespace {

bool IsPinned(const torch::Tensor& tensor) {
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, tensor.data_ptr()) != cudaSuccess) {
    (void)cudaGetLastError();  // an unregistered pointer on old drivers: not pinned
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

torch::Tensor PinnedCopy(const torch::Tensor& source) {
  const torch::Tensor contiguous = source.contiguous();
  const std::size_t bytes =
      static_cast<std::size_t>(contiguous.numel()) * contiguous.element_size();
  void* data = nullptr;
  // Portable: any device (and any context) may copy from these pages.
  if (cudaHostAlloc(&data, bytes, cudaHostAllocPortable) != cudaSuccess) {
    (void)cudaGetLastError();
    throw ResourceExhausted("host tier: cannot page-lock " + std::to_string(bytes) + " bytes");
  }
  std::memcpy(data, contiguous.data_ptr(), bytes);
  return torch::from_blob(
      data, contiguous.sizes(),
      // At process exit the runtime may be gone already; the pages go with the process then.
      [](void* p) { (void)cudaFreeHost(p); }, contiguous.options());
}

}  // namespace

int64_t PinHostTier(const std::vector<WeightBlock*>& blocks, const ExecutionTarget& target) {
  if (!target.is_cuda()) return 0;
  int64_t pinned = 0;
  for (WeightBlock* block : blocks) {
    for (auto& [name, stored] : block->tensors) {
      if (!stored.defined() || stored.nbytes() == 0 || IsPinned(stored.data)) continue;
      // The previous copy (host tensor or file mapping view) is released as each is replaced.
      stored.data = PinnedCopy(stored.data);
      pinned += stored.nbytes();
    }
  }
  return pinned;
}

}  // namespace streamdit::engine
