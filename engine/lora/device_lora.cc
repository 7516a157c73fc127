#include "engine/lora/device_lora.h"

#include <utility>

namespace streamdit::engine {

torch::Tensor LoraTensorOnDevice(const torch::Tensor& stored, torch::ScalarType compute,
                                 torch::Device device) {
  if (!stored.defined()) return {};
  return stored.to(device, compute, /*non_blocking=*/false, /*copy=*/true);
}

std::shared_ptr<const DeviceLora> DeviceLora::Load(std::shared_ptr<const LoraAdapter> adapter,
                                                   torch::ScalarType compute,
                                                   torch::Device device) {
  std::shared_ptr<DeviceLora> loaded(new DeviceLora());
  for (const LoraModule& module : adapter->modules()) {
    loaded->tensors_.emplace(&module,
                             LoraTensors{LoraTensorOnDevice(module.down, compute, device),
                                         LoraTensorOnDevice(module.up, compute, device),
                                         LoraTensorOnDevice(module.up_bias, compute, device)});
  }
  loaded->bytes_ = BytesOf(*adapter, compute, device);
  loaded->adapter_ = std::move(adapter);
  return loaded;
}

int64_t DeviceLora::BytesOf(const LoraAdapter& adapter, torch::ScalarType compute,
                            torch::Device device) {
  int64_t bytes = 0;
  for (PipelineComponent component :
       {PipelineComponent::kT5, PipelineComponent::kClip, PipelineComponent::kTransformer}) {
    bytes += adapter.DeviceBytes(component, compute, device);
  }
  return bytes;
}

const LoraTensors* DeviceLora::Find(const LoraModule& module) const {
  auto found = tensors_.find(&module);
  return found == tensors_.end() ? nullptr : &found->second;
}

const DeviceLora* FindDeviceLora(const DeviceLoras& loras, const LoraAdapter& adapter) {
  for (const std::shared_ptr<const DeviceLora>& lora : loras) {
    if (lora && &lora->adapter() == &adapter) return lora.get();
  }
  return nullptr;
}

}  // namespace streamdit::engine
