#include "engine/memory/cpu_kernel_scratch.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <map>
#include <mutex>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/device_charge.h"

namespace streamdit::engine {
namespace {

// One linear of the dtype at a tiny shape, charged to a meter of its own: its peak above what it
// holds afterwards (the operands and the output) is the kernel's scratch.
bool ProbeTakesScratch(torch::ScalarType dtype) {
  CpuMemoryMeter::Install();
  at::NoGradGuard no_grad;
  MemoryMeter probe;
  ScopedDeviceCharge charge(&probe);
  const at::Tensor x = at::ones({4, 64}, at::TensorOptions().dtype(dtype));
  const at::Tensor w = at::ones({64, 64}, at::TensorOptions().dtype(dtype));
  probe.ResetPeak();
  const at::Tensor y = at::linear(x, w);
  return probe.peak_bytes() > probe.current_bytes();
}

}  // namespace

bool CpuMatmulTakesScratch(torch::ScalarType dtype) {
  if (dtype == torch::kFloat || dtype == torch::kDouble) return false;
  static std::mutex mu;
  static std::map<torch::ScalarType, bool>* probed = new std::map<torch::ScalarType, bool>();
  std::lock_guard<std::mutex> lock(mu);
  auto found = probed->find(dtype);
  if (found == probed->end()) found = probed->emplace(dtype, ProbeTakesScratch(dtype)).first;
  return found->second;
}

bool CpuRunsNatively(torch::ScalarType dtype) {
  return dtype == torch::kFloat || dtype == torch::kDouble || CpuMatmulTakesScratch(dtype);
}

int64_t CpuMatmulScratchBytes(torch::ScalarType dtype) {
  if (!CpuMatmulTakesScratch(dtype)) return 0;
  return kNativeMatmulScratchPerThread * at::get_num_threads();
}

}  // namespace streamdit::engine
