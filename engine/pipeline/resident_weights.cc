#include "engine/pipeline/resident_weights.h"

#include <c10/core/ScalarType.h>

#include <algorithm>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/device/compute_stream.h"
#include "engine/memory/allocation_bytes.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

constexpr PipelineComponent kComponents[] = {PipelineComponent::kT5, PipelineComponent::kClip,
                                             PipelineComponent::kTransformer,
                                             PipelineComponent::kVae};

class ResidentWeightProvider final : public WeightProvider {
 public:
  explicit ResidentWeightProvider(
      const std::unordered_map<const WeightBlock*, BlockTensors>& blocks)
      : blocks_(blocks) {}

  BlockTensors Acquire(const WeightBlock& block) override {
    auto found = blocks_.find(&block);
    if (found == blocks_.end()) {
      throw Internal("block '" + block.name + "' is not among the model's resident weights");
    }
    return found->second;  // shares the tensors: nothing is copied
  }

 private:
  const std::unordered_map<const WeightBlock*, BlockTensors>& blocks_;
};

// Whether the resident copy keeps this tensor in its stored format, to be decoded at each use.
bool HeldStored(const std::string& name, const StoredTensor& stored, torch::ScalarType compute,
                ResidentFormat format) {
  return format == ResidentFormat::kStored && DecodedAtUse(name, stored, compute);
}

// Every block of every present component once (a block listed twice is held once). `streamdit
// plan` on a transformer file alone has no encoders and no VAE.
std::vector<const WeightBlock*> DistinctBlocks(const JobModels& models) {
  std::vector<const WeightBlock*> blocks;
  std::unordered_set<const WeightBlock*> seen;
  for (PipelineComponent component : kComponents) {
    const bool present = component == PipelineComponent::kT5     ? models.t5 != nullptr
                         : component == PipelineComponent::kClip ? models.clip != nullptr
                         : component == PipelineComponent::kTransformer
                             ? models.transformer != nullptr
                             : models.vae != nullptr;
    if (!present) continue;
    for (const WeightBlock* block : ComponentBlocks(models, component)) {
      if (seen.insert(block).second) blocks.push_back(block);
    }
  }
  return blocks;
}

}  // namespace

std::shared_ptr<const ResidentWeights> ResidentWeights::Load(const FluxPipeline& pipeline,
                                                             const ExecutionTarget& target) {
  const torch::ScalarType compute = pipeline.config().compute_dtype;
  const ResidentFormat format = pipeline.config().resident_format;
  const torch::Device device = target.device;
  std::shared_ptr<ResidentWeights> weights(new ResidentWeights(device));
  torch::NoGradGuard no_grad;
  // The copies are queued on the worker's compute stream, so the launches that read them on the
  // same stream are ordered after them without a host wait.
  const ScopedComputeStream stream(target);
  for (const WeightBlock* block : DistinctBlocks(pipeline.models())) {
    std::unordered_map<std::string, torch::Tensor> ready;
    std::unordered_map<std::string, StoredTensor> held_stored;
    for (const auto& [name, stored] : block->tensors) {
      if (HeldStored(name, stored, compute, format)) {
        // The stored bytes themselves (fp8 codes, GGML blocks), always a copy of the device's
        // own: on the CPU too, never the file's mapping.
        StoredTensor copy = stored;
        copy.data = stored.data.to(device, stored.data.scalar_type(), /*non_blocking=*/false,
                                   /*copy=*/true);
        weights->bytes_ += AllocationBytes(copy.data.numel(), copy.data.scalar_type(), device);
        held_stored.emplace(name, std::move(copy));
        continue;
      }
      torch::Tensor tensor = Materialize(stored, compute, device);
      // Stored in the compute dtype on the CPU, Materialize returns the file's mapping itself:
      // a resident copy is the device's own, as it would be on a GPU.
      if (tensor.data_ptr() == stored.data.data_ptr()) tensor = tensor.clone();
      weights->bytes_ += AllocationBytes(tensor.numel(), compute, device);
      ready.emplace(name, std::move(tensor));
    }
    weights->blocks_.emplace(
        block, BlockTensors(std::move(ready), std::move(held_stored), compute, device));
  }
  return weights;
}

int64_t ResidentWeights::BytesOf(const FluxPipeline& pipeline, torch::Device device) {
  return BytesOf(pipeline.models(), pipeline.config().compute_dtype, device,
                 pipeline.config().resident_format);
}

int64_t ResidentWeights::BytesOf(const JobModels& models, torch::ScalarType compute,
                                 torch::Device device, ResidentFormat format) {
  int64_t bytes = 0;
  for (const WeightBlock* block : DistinctBlocks(models)) {
    for (const auto& [name, stored] : block->tensors) {
      bytes += HeldStored(name, stored, compute, format)
                   ? AllocationBytes(stored.data.numel(), stored.data.scalar_type(), device)
                   : AllocationBytes(stored.numel(), compute, device);
    }
  }
  return bytes;
}

int64_t ResidentWeights::DecodeBytesOf(const JobModels& models, torch::ScalarType compute,
                                       torch::Device device, ResidentFormat format) {
  int64_t bytes = 0;
  for (const WeightBlock* block : DistinctBlocks(models)) {
    for (const auto& [name, stored] : block->tensors) {
      if (!HeldStored(name, stored, compute, format)) continue;
      // DecodeTransientBytes of the host tensor: it also counts a copy of fp8 codes onto the
      // device that a resident copy does not need, so this is an upper bound there.
      bytes = std::max(bytes, AllocationBytes(stored.numel(), compute, device) +
                                  DecodeTransientBytes(stored, compute, device));
    }
  }
  return bytes;
}

std::unique_ptr<WeightProvider> ResidentWeights::Provider() const {
  return std::make_unique<ResidentWeightProvider>(blocks_);
}

}  // namespace streamdit::engine
