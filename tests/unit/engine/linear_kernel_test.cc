// The models' linear (engine/tensor/linear_kernel.h): which kernel runs for which operands, that
// the tiled oneDNN kernel computes x·wᵀ + b as a float64 reference does, gives the same bits at
// every thread count, and charges its tiles to the calling thread's device.
#include "engine/tensor/linear_kernel.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "engine/memory/cpu_kernel_scratch.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/device_charge.h"

namespace streamdit::engine {
namespace {

// Restores the process's float32 kernel and thread count at the end of a test.
class LinearKernelTest : public testing::Test {
 protected:
  void TearDown() override {
    SetCpuLinearKernel(kernel_before_);
    at::set_num_threads(threads_before_);
  }
  const CpuLinearKernel kernel_before_ = CurrentCpuLinearKernel();
  const int threads_before_ = at::get_num_threads();
};

torch::Tensor Reference(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  torch::Tensor y = at::matmul(x.to(torch::kDouble), w.to(torch::kDouble).t());
  return b.defined() ? y + b.to(torch::kDouble) : y;
}

TEST_F(LinearKernelTest, OneDnnForSeveralTilesOfFloat32OnTheCpuOnly) {
  if (!OneDnnLinearAvailable()) GTEST_SKIP() << "this libtorch has no oneDNN linear";
  SetCpuLinearKernel(CpuLinearKernel::kOneDnn);
  const torch::Tensor x = torch::randn({2, 300, 64});
  const torch::Tensor w = torch::randn({96, 64});
  const torch::Tensor b = torch::randn({96});
  EXPECT_EQ(LinearKernelFor(x, w, b), CpuLinearKernel::kOneDnn);  // 600 rows: 3 row tiles
  EXPECT_EQ(LinearKernelFor(x, w, torch::Tensor()), CpuLinearKernel::kOneDnn);
  // One tile: the BLAS, never a oneDNN call that would thread itself.
  EXPECT_EQ(LinearKernelFor(x[0].narrow(0, 0, 256), w, b), CpuLinearKernel::kBlas);
  EXPECT_EQ(LinearKernelFor(torch::randn({4, 64}), torch::randn({1025, 64}), torch::Tensor()),
            CpuLinearKernel::kOneDnn);
  // Other dtypes, operands oneDNN would copy, mismatched bias.
  EXPECT_EQ(LinearKernelFor(x.to(torch::kBFloat16), w.to(torch::kBFloat16), torch::Tensor()),
            CpuLinearKernel::kBlas);
  EXPECT_EQ(LinearKernelFor(x, torch::randn({64, 96}).t(), b), CpuLinearKernel::kBlas);
  EXPECT_EQ(LinearKernelFor(x.transpose(0, 1), w, b), CpuLinearKernel::kBlas);
  EXPECT_EQ(LinearKernelFor(x, w, b.to(torch::kDouble)), CpuLinearKernel::kBlas);
  SetCpuLinearKernel(CpuLinearKernel::kBlas);
  EXPECT_EQ(LinearKernelFor(x, w, b), CpuLinearKernel::kBlas);
}

TEST_F(LinearKernelTest, KernelNamesParseBack) {
  for (CpuLinearKernel kernel : {CpuLinearKernel::kBlas, CpuLinearKernel::kOneDnn}) {
    CpuLinearKernel parsed =
        kernel == CpuLinearKernel::kBlas ? CpuLinearKernel::kOneDnn : CpuLinearKernel::kBlas;
    ASSERT_TRUE(ParseCpuLinearKernel(CpuLinearKernelName(kernel), &parsed));
    EXPECT_EQ(parsed, kernel);
  }
  CpuLinearKernel unchanged = CpuLinearKernel::kBlas;
  EXPECT_FALSE(ParseCpuLinearKernel("mkl", &unchanged));
  EXPECT_EQ(unchanged, CpuLinearKernel::kBlas);
}

// Shapes with tails in both directions, a 3-D input, FLUX's reduction and one far wider.
const std::vector<std::array<int64_t, 3>> kShapes = {
    {600, 64, 96}, {300, 1024, 128}, {16, 1024, 3072}, {257, 3072, 1025}, {40, 12288, 2048}};

TEST_F(LinearKernelTest, TiledOneDnnMatchesFloat64WithAndWithoutBias) {
  if (!OneDnnLinearAvailable()) GTEST_SKIP() << "this libtorch has no oneDNN linear";
  SetCpuLinearKernel(CpuLinearKernel::kOneDnn);
  torch::manual_seed(3);
  for (const auto& [m, k, n] : kShapes) {
    const torch::Tensor x = torch::randn({2, m / 2 + m % 2, k});
    const torch::Tensor w = torch::randn({n, k}) / std::sqrt(double(k));
    const torch::Tensor b = torch::randn({n});
    ASSERT_EQ(LinearKernelFor(x, w, b), CpuLinearKernel::kOneDnn);
    for (const torch::Tensor& bias : {b, torch::Tensor()}) {
      const torch::Tensor y = LinearForward(x, w, bias);
      const torch::Tensor expected = Reference(x, w, bias);
      ASSERT_EQ(y.sizes(), expected.sizes());
      const double error = (y.to(torch::kDouble) - expected).abs().max().item<double>() /
                           expected.abs().max().item<double>();
      SCOPED_TRACE(testing::Message() << m << " x " << k << " x " << n);
      EXPECT_LT(error, 2e-6);
    }
  }
}

TEST_F(LinearKernelTest, SameBitsAtEveryThreadCount) {
  if (!OneDnnLinearAvailable()) GTEST_SKIP() << "this libtorch has no oneDNN linear";
  SetCpuLinearKernel(CpuLinearKernel::kOneDnn);
  torch::manual_seed(4);
  for (const auto& [m, k, n] : kShapes) {
    const torch::Tensor x = torch::randn({m, k});
    const torch::Tensor w = torch::randn({n, k});
    const torch::Tensor b = torch::randn({n});
    at::set_num_threads(1);
    const torch::Tensor one = LinearForward(x, w, b);
    at::set_num_threads(2);
    const torch::Tensor two = LinearForward(x, w, b);
    SCOPED_TRACE(testing::Message() << m << " x " << k << " x " << n);
    EXPECT_TRUE(torch::equal(one, two));
  }
}

TEST_F(LinearKernelTest, TilesAreChargedToTheCallersDeviceWithinTheScratchBound) {
  if (!OneDnnLinearAvailable()) GTEST_SKIP() << "this libtorch has no oneDNN linear";
  CpuMemoryMeter::Install();
  SetCpuLinearKernel(CpuLinearKernel::kOneDnn);
  at::set_num_threads(2);
  torch::NoGradGuard no_grad;
  const int64_t m = 1024, k = 3072, n = 2048;
  const torch::Tensor x = torch::randn({m, k});
  const torch::Tensor w = torch::randn({n, k});
  MemoryMeter device;
  int64_t held = 0;
  {
    ScopedDeviceCharge charge(&device);
    const torch::Tensor y = LinearForward(x, w);
    held = device.current_bytes();
  }
  const int64_t output = m * n * 4;
  // Every tile is computed on a pool thread; the meter of the calling thread saw them all.
  EXPECT_GE(device.peak_bytes() - held, kOneDnnTileBytes);
  EXPECT_GE(held, output);
  EXPECT_LE(device.peak_bytes() - held, CpuMatmulScratchBytes(torch::kFloat, {m, k, n}));
  // A device too small for the tiles refuses them, and the call fails as an allocation would.
  MemoryMeter small;
  small.set_limit_bytes(output + 4096 + kOneDnnTileBytes / 2);
  ScopedDeviceCharge charge(&small);
  EXPECT_THROW(LinearForward(x, w), c10::OutOfMemoryError);
  EXPECT_EQ(small.current_bytes(), 0);
}

}  // namespace
}  // namespace streamdit::engine
