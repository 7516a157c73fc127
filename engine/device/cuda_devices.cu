// DiscoverCudaDevices through the CUDA runtime API (cudart), compiled by nvcc.
#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "engine/device/cuda_devices.h"

namespace streamdit::engine {
namespace {

// The runtime's "no driver" / "no device" answers are an environment fact, not a bug.
bool MeansNoDevice(cudaError_t error) {
  return error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver ||
         error == cudaErrorNotPermitted || error == cudaErrorSystemNotReady ||
         error == cudaErrorStubLibrary || error == cudaErrorDevicesUnavailable ||
         error == cudaErrorInitializationError || error == cudaErrorSystemDriverMismatch ||
         error == cudaErrorCompatNotSupportedOnDevice;
}

absl::Status RuntimeError(cudaError_t error, const char* call) {
  const std::string message =
      absl::StrCat(call, ": ", cudaGetErrorName(error), " (", cudaGetErrorString(error), ")");
  // Clear the sticky-free error so that later calls start clean.
  cudaGetLastError();
  return MeansNoDevice(error) ? absl::UnavailableError(message) : absl::InternalError(message);
}

}  // namespace

bool BuiltWithCuda() { return true; }

absl::StatusOr<std::vector<CudaDeviceInfo>> DiscoverCudaDevices() {
  int count = 0;
  if (cudaError_t error = cudaGetDeviceCount(&count); error != cudaSuccess) {
    return RuntimeError(error, "cudaGetDeviceCount");
  }
  if (count == 0) return absl::UnavailableError("cudaGetDeviceCount: no CUDA device is visible");
  int previous = 0;
  cudaGetDevice(&previous);
  std::vector<CudaDeviceInfo> devices;
  for (int index = 0; index < count; ++index) {
    cudaDeviceProp properties{};
    if (cudaError_t error = cudaGetDeviceProperties(&properties, index); error != cudaSuccess) {
      return RuntimeError(error, "cudaGetDeviceProperties");
    }
    if (cudaError_t error = cudaSetDevice(index); error != cudaSuccess) {
      return RuntimeError(error, "cudaSetDevice");
    }
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaError_t error = cudaMemGetInfo(&free_bytes, &total_bytes); error != cudaSuccess) {
      return RuntimeError(error, "cudaMemGetInfo");
    }
    devices.push_back({index, properties.name, static_cast<int64_t>(total_bytes),
                       static_cast<int64_t>(free_bytes), properties.major, properties.minor});
  }
  cudaSetDevice(previous);
  return devices;
}

}  // namespace streamdit::engine
