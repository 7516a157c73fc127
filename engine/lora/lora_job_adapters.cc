#include "engine/lora/lora_job_adapters.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>

namespace streamdit::engine {
namespace {

// Each distinct adapter of the samples (by identity), in order of first use.
std::vector<const LoraAdapter*> DistinctAdapters(
    PipelineComponent component, const std::vector<const std::vector<LoraUse>*>& sample_loras) {
  std::vector<const LoraAdapter*> adapters;
  for (const std::vector<LoraUse>* uses : sample_loras) {
    if (!uses) continue;
    for (const LoraUse& use : *uses) {
      const LoraAdapter* adapter = use.adapter.get();
      if (adapter && adapter->targets(component) &&
          std::find(adapters.begin(), adapters.end(), adapter) == adapters.end()) {
        adapters.push_back(adapter);
      }
    }
  }
  return adapters;
}

}  // namespace

std::shared_ptr<const ComponentAdapters> BuildComponentAdapters(
    PipelineComponent component, const std::vector<const std::vector<LoraUse>*>& sample_loras,
    torch::ScalarType compute, torch::Device device, const DeviceLoras& on_device) {
  const std::vector<const LoraAdapter*> adapters = DistinctAdapters(component, sample_loras);
  if (adapters.empty()) return nullptr;
  const int64_t batch = static_cast<int64_t>(sample_loras.size());

  // (module, strength) and the samples that use it, in order of first use (samples, then each
  // request's LoRAs, then the file's pairs): deltas on one layer are added in that order, so the
  // sums, and the images, are the same in every process.
  struct Group {
    const LoraModule* module;
    double strength;
    std::vector<int64_t> samples;
  };
  std::vector<Group> groups;
  std::map<std::pair<const LoraModule*, double>, std::size_t> group_of;
  for (int64_t sample = 0; sample < batch; ++sample) {
    const std::vector<LoraUse>* uses = sample_loras[static_cast<std::size_t>(sample)];
    if (!uses) continue;
    for (const LoraUse& use : *uses) {
      if (!use.adapter) continue;
      for (const LoraModule& module : use.adapter->modules()) {
        if (module.component != component) continue;
        auto [found, added] =
            group_of.emplace(std::make_pair(&module, use.strength), groups.size());
        if (added) groups.push_back({&module, use.strength, {}});
        groups[found->second].samples.push_back(sample);
      }
    }
  }

  std::map<const LoraModule*, LoraTensors> ready;
  for (const LoraAdapter* adapter : adapters) {
    const DeviceLora* cached = FindDeviceLora(on_device, *adapter);
    for (const LoraModule& module : adapter->modules()) {
      if (module.component != component) continue;
      const LoraTensors* tensors = cached ? cached->Find(module) : nullptr;
      ready[&module] = tensors ? *tensors
                               : LoraTensors{LoraTensorOnDevice(module.down, compute, device),
                                             LoraTensorOnDevice(module.up, compute, device),
                                             LoraTensorOnDevice(module.up_bias, compute, device)};
    }
  }

  std::map<std::string, std::shared_ptr<BlockAdapters>> blocks;
  for (const Group& group : groups) {
    const LoraModule& module = *group.module;
    const std::vector<int64_t>& samples = group.samples;
    const LoraTensors& tensors = ready.at(&module);
    LowRankDelta delta;
    delta.down = tensors.down;
    delta.up = tensors.up;
    delta.up_bias = tensors.up_bias;
    delta.row_offset = module.row_offset;
    delta.scale = module.scale * group.strength;
    delta.batch_samples = batch;
    // A sample listing the same module twice (the same adapter at two strengths) is in two groups.
    if (static_cast<int64_t>(samples.size()) != batch) delta.samples = samples;
    std::shared_ptr<BlockAdapters>& block = blocks[module.block];
    if (!block) block = std::make_shared<BlockAdapters>();
    block->Add(module.module, std::move(delta));
  }
  auto component_adapters = std::make_shared<ComponentAdapters>();
  for (auto& [name, block] : blocks) component_adapters->emplace(name, std::move(block));
  return component_adapters;
}

int64_t ComponentAdapterBytes(PipelineComponent component,
                              const std::vector<const std::vector<LoraUse>*>& sample_loras,
                              torch::ScalarType compute, torch::Device device,
                              const std::vector<const LoraAdapter*>& on_device) {
  int64_t bytes = 0;
  for (const LoraAdapter* adapter : DistinctAdapters(component, sample_loras)) {
    if (std::find(on_device.begin(), on_device.end(), adapter) != on_device.end()) continue;
    bytes += adapter->DeviceBytes(component, compute, device);
  }
  return bytes;
}

int64_t ComponentAdapterRank(PipelineComponent component,
                             const std::vector<const std::vector<LoraUse>*>& sample_loras) {
  int64_t rank = 0;
  for (const LoraAdapter* adapter : DistinctAdapters(component, sample_loras)) {
    for (const LoraModule& module : adapter->modules()) {
      if (module.component == component) rank = std::max(rank, module.rank());
    }
  }
  return rank;
}

std::string TextAdapterKey(const std::vector<LoraUse>& loras) {
  std::string key;
  for (const LoraUse& use : loras) {
    if (!use.adapter || use.adapter->text_fingerprint().empty()) continue;
    char strength[32];  // every bit of the strength: another strength is another embedding
    std::snprintf(strength, sizeof(strength), "%.17g", use.strength);
    key += use.adapter->text_fingerprint() + "*" + strength + ";";
  }
  return key;
}

std::unique_ptr<WeightProvider> WithAdapters(std::unique_ptr<WeightProvider> base,
                                             std::shared_ptr<const ComponentAdapters> adapters) {
  if (!adapters) return base;
  return std::make_unique<AdaptedWeightProvider>(std::move(base), std::move(adapters));
}

}  // namespace streamdit::engine
