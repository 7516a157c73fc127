#include "engine/streaming/host_tensor.h"

#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {

torch::Tensor AllocateHostTensor(const std::vector<int64_t>& sizes, torch::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t s : sizes) numel *= s;
  const std::size_t bytes = static_cast<std::size_t>(numel) * c10::elementSize(dtype);
  void* data = nullptr;
  if (posix_memalign(&data, 64, bytes == 0 ? 64 : bytes) != 0) {
    throw ResourceExhausted("host tier: cannot allocate " + std::to_string(bytes) + " bytes");
  }
  return torch::from_blob(
      data, sizes, [](void* p) { std::free(p); }, torch::TensorOptions().dtype(dtype));
}

torch::Tensor CopyToHost(const torch::Tensor& source) {
  torch::Tensor contiguous = source.contiguous().cpu();
  torch::Tensor host = AllocateHostTensor(contiguous.sizes().vec(), contiguous.scalar_type());
  std::memcpy(host.data_ptr(), contiguous.data_ptr(),
              contiguous.numel() * contiguous.element_size());
  return host;
}

}  // namespace streamdit::engine
