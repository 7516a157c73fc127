#include "engine/pipeline/resident_weights.h"

#include <c10/core/ScalarType.h>

#include <string>
#include <unordered_set>
#include <utility>

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

}  // namespace

std::shared_ptr<const ResidentWeights> ResidentWeights::Load(const FluxPipeline& pipeline,
                                                             const ExecutionTarget& target) {
  const torch::ScalarType compute = pipeline.config().compute_dtype;
  const torch::Device device = target.device;
  const JobModels models = pipeline.models();
  std::shared_ptr<ResidentWeights> weights(new ResidentWeights(device));
  torch::NoGradGuard no_grad;
  // The copies are queued on the worker's compute stream, so the launches that read them on the
  // same stream are ordered after them without a host wait.
  const ScopedComputeStream stream(target);
  for (PipelineComponent component : kComponents) {
    for (const WeightBlock* block : ComponentBlocks(models, component)) {
      if (weights->blocks_.count(block)) continue;  // a block listed twice is held once
      std::unordered_map<std::string, torch::Tensor> tensors;
      for (const auto& [name, stored] : block->tensors) {
        torch::Tensor tensor = Materialize(stored, compute, device);
        // Stored in the compute dtype on the CPU, Materialize returns the file's mapping itself:
        // a resident copy is the device's own, as it would be on a GPU.
        if (tensor.data_ptr() == stored.data.data_ptr()) tensor = tensor.clone();
        weights->bytes_ += AllocationBytes(tensor.numel(), compute, device);
        tensors.emplace(name, std::move(tensor));
      }
      weights->blocks_.emplace(block, BlockTensors(std::move(tensors)));
    }
  }
  return weights;
}

int64_t ResidentWeights::BytesOf(const FluxPipeline& pipeline, torch::Device device) {
  const torch::ScalarType compute = pipeline.config().compute_dtype;
  const JobModels models = pipeline.models();
  int64_t bytes = 0;
  std::unordered_set<const WeightBlock*> counted;
  for (PipelineComponent component : kComponents) {
    for (const WeightBlock* block : ComponentBlocks(models, component)) {
      if (!counted.insert(block).second) continue;
      for (const auto& [name, stored] : block->tensors) {
        bytes += AllocationBytes(stored.numel(), compute, device);
      }
    }
  }
  return bytes;
}

std::unique_ptr<WeightProvider> ResidentWeights::Provider() const {
  return std::make_unique<ResidentWeightProvider>(blocks_);
}

}  // namespace streamdit::engine
