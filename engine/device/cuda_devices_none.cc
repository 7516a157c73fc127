// DiscoverCudaDevices in a build without the CUDA path (STREAMDIT_CUDA=OFF).
#include "engine/device/cuda_devices.h"

namespace streamdit::engine {

bool BuiltWithCuda() { return false; }

absl::StatusOr<std::vector<CudaDeviceInfo>> DiscoverCudaDevices() {
  return absl::UnavailableError(
      "this streamdit was built without CUDA (configure with -DSTREAMDIT_CUDA=ON)");
}

}  // namespace streamdit::engine
