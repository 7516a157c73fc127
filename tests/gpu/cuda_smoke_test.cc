// The CUDA toolchain end to end on a GPU: discovery agrees with libtorch, and a matmul computed on
// the device agrees with the CPU's. Label `gpu`: on a machine without a device every test is
// skipped, naming the runtime's reason (no driver, no device, or a build without CUDA).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/device/cuda_devices.h"
#include "tests/gpu/skip_without_cuda.h"

namespace streamdit::engine {
namespace {

TEST(CudaSmoke, TorchSeesTheDevicesDiscoveryFinds) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const auto devices = DiscoverCudaDevices();
  ASSERT_TRUE(torch::cuda::is_available());
  EXPECT_EQ(static_cast<size_t>(torch::cuda::device_count()), devices->size());
}

TEST(CudaSmoke, MatmulOnTheDeviceMatchesTheCpu) {
  SKIP_WITHOUT_CUDA_DEVICE();
  torch::manual_seed(7);
  const torch::Tensor a = torch::randn({256, 512}, torch::kFloat32);
  const torch::Tensor b = torch::randn({512, 128}, torch::kFloat32);
  const torch::Tensor cpu = a.matmul(b);
  // TF32 off: the comparison is f32 against f32.
  at::globalContext().setAllowTF32CuBLAS(false);
  const torch::Tensor gpu = a.to(torch::kCUDA).matmul(b.to(torch::kCUDA)).cpu();
  EXPECT_LT((gpu - cpu).abs().max().item<float>(), 1e-3f);
}

}  // namespace
}  // namespace streamdit::engine
