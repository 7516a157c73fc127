// The matmul scratch bound the activation models add (engine/memory/cpu_kernel_scratch.h), held
// against what matmuls of FLUX's shapes really allocate on the machine the suite runs on: never
// above the bound, whatever the dtype, the shape, the thread count or the float32 kernel
// (linear_kernel.h); and none at all from float32's BLAS.
#include "engine/memory/cpu_kernel_scratch.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <vector>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/tensor/linear_kernel.h"

namespace streamdit::engine {
namespace {

// Bytes one linear of [m, k] x [n, k]^T allocates beyond its output.
int64_t MeasuredScratch(torch::ScalarType dtype, int64_t m, int64_t k, int64_t n) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::ones({m, k}, torch::TensorOptions().dtype(dtype));
  const torch::Tensor w = torch::ones({n, k}, torch::TensorOptions().dtype(dtype));
  const torch::Tensor b = torch::ones({n}, torch::TensorOptions().dtype(dtype));
  ScopedPeak peak;
  const torch::Tensor y = LinearForward(x, w, b);
  return peak.peak_above_start_bytes() - peak.current_above_start_bytes();
}

TEST(CpuKernelScratch, EveryMatmulOfFluxShapesStaysWithinTheBound) {
  CpuMemoryMeter::Install();
  // Modulation rows, token counts, FLUX's reductions (hidden, mlp) and outputs.
  const std::vector<std::array<int64_t, 3>> shapes = {
      {3, 64, 64},       {3, 256, 1536},   {6, 384, 2304},   {96, 384, 1536},
      {256, 256, 4096},  {3, 3072, 18432}, {1024, 3072, 64}, {512, 12288, 64},
      {4608, 3072, 256}, {16, 3072, 64},   {64, 3072, 256},  {3, 3072, 1024},
      {16, 3072, 3072},  {16, 1024, 1024}, {64, 512, 512},   {3, 256, 1024}};
  const int threads_before = at::get_num_threads();
  const CpuLinearKernel kernel_before = CurrentCpuLinearKernel();
  for (CpuLinearKernel kernel : {CpuLinearKernel::kBlas, CpuLinearKernel::kOneDnn}) {
    SetCpuLinearKernel(kernel);
    for (int threads : {1, 2}) {
      at::set_num_threads(threads);
      for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
        for (const auto& [m, k, n] : shapes) {
          const int64_t bound = CpuMatmulScratchBytes(dtype, {m, k, n});
          const int64_t measured = MeasuredScratch(dtype, m, k, n);
          SCOPED_TRACE(testing::Message()
                       << CpuLinearKernelName(CurrentCpuLinearKernel()) << " "
                       << c10::toString(dtype) << " threads " << threads << " m " << m << " k " << k
                       << " n " << n << " measured " << measured);
          EXPECT_LE(measured, bound);
          // The probe's verdict agrees with what the kernels do at real shapes.
          if (!CpuMatmulTakesScratch(dtype)) {
            EXPECT_EQ(measured, 0);
          }
        }
      }
    }
  }
  SetCpuLinearKernel(CpuLinearKernel::kBlas);
  EXPECT_FALSE(CpuMatmulTakesScratch(torch::kFloat));
  EXPECT_EQ(CpuMatmulScratchBytes(torch::kFloat, {4608, 3072, 3072}), 0);
  SetCpuLinearKernel(kernel_before);
  at::set_num_threads(threads_before);
}

}  // namespace
}  // namespace streamdit::engine
