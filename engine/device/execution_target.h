// Where one launch computes: the device the scheduler placed it on, handed to the engine with every
// launch (FluxPipeline::GenerateBatch, ResidentWeights::Load, DeviceLora::Load, the memory plan)
// rather than read from the model, so that one loaded model serves `cpu:0` and `cuda:1` alike and
// the compiler finds every call site that has to say which.
//
// A CUDA target computes on the current CUDA stream of its device; the runner makes the device's
// compute stream current around each launch (engine/device/compute_stream.h), and streaming copies
// run on a copy stream ordered against it (engine/streaming/slot_transfer.h).
#pragma once

#include <torch/types.h>

#include <string>

namespace streamdit::engine {

struct ExecutionTarget {
  // cpu, or cuda:N with its index set.
  torch::Device device;

  static ExecutionTarget Cpu() { return ExecutionTarget{torch::Device(torch::kCPU)}; }
  static ExecutionTarget Cuda(int index) {
    return ExecutionTarget{torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index))};
  }
  bool is_cuda() const { return device.is_cuda(); }
  std::string str() const { return device.str(); }
};

}  // namespace streamdit::engine
