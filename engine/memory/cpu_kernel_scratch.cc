#include "engine/memory/cpu_kernel_scratch.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/device_charge.h"
#include "engine/tensor/linear_kernel.h"

namespace streamdit::engine {
namespace {

// Linears of the dtype at a few small shapes, charged to a meter of their own: a peak above what
// each holds afterwards (the operands and the output) is the kernel's scratch. oneDNN picks its
// kernel by shape, and only some take a scratchpad (float32: none at 16 x 3072 x 64, some at
// 64 x 3072 x 256 and at 256 x 256 x 4096, which is also tiled: linear_kernel.h), so one shape
// could not speak for the rest.
bool ProbeTakesScratch(torch::ScalarType dtype) {
  CpuMemoryMeter::Install();
  at::NoGradGuard no_grad;
  constexpr int64_t kShapes[][3] = {{4, 64, 64}, {64, 3072, 256}, {256, 256, 4096}};
  for (const auto& [m, k, n] : kShapes) {
    MemoryMeter probe;
    ScopedDeviceCharge charge(&probe);
    const at::Tensor x = at::ones({m, k}, at::TensorOptions().dtype(dtype));
    const at::Tensor w = at::ones({n, k}, at::TensorOptions().dtype(dtype));
    probe.ResetPeak();
    const at::Tensor y = LinearForward(x, w);
    if (probe.peak_bytes() > probe.current_bytes()) return true;
  }
  return false;
}

}  // namespace

bool CpuMatmulTakesScratch(torch::ScalarType dtype) {
  if (dtype == torch::kDouble) return false;  // always libtorch's BLAS (linear_kernel.h)
  // float32's kernel is a process-wide choice (linear_kernel.h): the verdict is kept per choice.
  const CpuLinearKernel kernel = CurrentCpuLinearKernel();
  static std::mutex mu;
  static auto* probed = new std::map<std::pair<torch::ScalarType, CpuLinearKernel>, bool>();
  std::lock_guard<std::mutex> lock(mu);
  auto found = probed->find({dtype, kernel});
  if (found == probed->end())
    found = probed->emplace(std::make_pair(dtype, kernel), ProbeTakesScratch(dtype)).first;
  return found->second;
}

bool CpuRunsNatively(torch::ScalarType dtype) {
  return dtype == torch::kFloat || dtype == torch::kDouble || CpuMatmulTakesScratch(dtype);
}

int64_t CpuMatmulScratchBytes(torch::ScalarType dtype, const LinearExtent& widest) {
  if (!CpuMatmulTakesScratch(dtype)) return 0;
  const int64_t scratchpad =
      std::min(kNativeMatmulScratchPerThread,
               kMatmulScratchBytesPerReduction * std::max<int64_t>(widest.reduction, 1));
  if (dtype != torch::kFloat || CurrentCpuLinearKernel() != CpuLinearKernel::kOneDnn) {
    return scratchpad * at::get_num_threads();
  }
  // The tiled float32 kernel (linear_kernel.h): a linear of one tile runs in the BLAS.
  if (widest.rows <= kOneDnnTileRows && widest.outputs <= kOneDnnTileCols) return 0;
  const int64_t tile = std::min(widest.rows, kOneDnnTileRows) *
                       std::min(widest.outputs, kOneDnnTileCols) * int64_t{4};
  return (scratchpad + tile) * at::get_num_threads();
}

int64_t CpuMatmulScratchCeilingBytes() {
  return (kNativeMatmulScratchPerThread + kOneDnnTileBytes) * at::get_num_threads();
}

}  // namespace streamdit::engine
