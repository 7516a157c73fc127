// A LoRA's tensors converted once to the compute dtype on a device and kept there across jobs:
// what a device's adapter cache holds (the scheduler counts its bytes like resident weights). Jobs
// given it (JobMemoryOptions::device_loras) read these tensors instead of converting their own,
// and their budgets do not count them. Immutable once loaded: any number of jobs share one.
//
// The bytes are allocated by Load's calling thread and so charged to that thread's device
// (engine/memory/device_charge.h); they are released when the last holder drops it.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/lora/lora_adapter.h"

namespace streamdit::engine {

// One module's low-rank pair in the compute dtype on the device (up_bias may be undefined).
struct LoraTensors {
  torch::Tensor down;
  torch::Tensor up;
  torch::Tensor up_bias;
};

class DeviceLora {
 public:
  // Converts every module of every component. An allocation beyond the device's limit throws the
  // allocator's c10::OutOfMemoryError (RESOURCE_EXHAUSTED); what was allocated by then is freed.
  static std::shared_ptr<const DeviceLora> Load(std::shared_ptr<const LoraAdapter> adapter,
                                                torch::ScalarType compute, torch::Device device);
  // The bytes Load allocates: LoraAdapter::DeviceBytes over every component.
  static int64_t BytesOf(const LoraAdapter& adapter, torch::ScalarType compute,
                         torch::Device device);

  const LoraAdapter& adapter() const { return *adapter_; }
  int64_t bytes() const { return bytes_; }
  // The tensors of one of its adapter's modules; null for a module of another adapter.
  const LoraTensors* Find(const LoraModule& module) const;

 private:
  DeviceLora() = default;
  std::shared_ptr<const LoraAdapter> adapter_;
  std::unordered_map<const LoraModule*, LoraTensors> tensors_;
  int64_t bytes_ = 0;
};

using DeviceLoras = std::vector<std::shared_ptr<const DeviceLora>>;

// The one of `loras` made from `adapter`, or null.
const DeviceLora* FindDeviceLora(const DeviceLoras& loras, const LoraAdapter& adapter);

// Converts a stored LoRA tensor for a job or a cache: always a copy (even in the file's own dtype),
// so that the bytes are the same whatever the file's dtype (and are what DeviceBytes predicts).
torch::Tensor LoraTensorOnDevice(const torch::Tensor& stored, torch::ScalarType compute,
                                 torch::Device device);

}  // namespace streamdit::engine
