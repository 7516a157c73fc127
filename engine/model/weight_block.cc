#include "engine/model/weight_block.h"

#include "engine/status/status_error.h"

namespace streamdit::engine {

int64_t WeightBlock::nbytes() const {
  int64_t total = 0;
  for (const auto& [name, tensor] : tensors) total += tensor.nbytes();
  return total;
}

void WeightBlock::AddFrom(const Checkpoint& checkpoint, const std::string& prefix,
                          const std::string& name, const std::vector<int64_t>& shape) {
  const std::string full = prefix + name;
  TensorRef ref = shape.empty() ? checkpoint.Require(full) : checkpoint.RequireShape(full, shape);
  Add(name, ViewStored(ref));
}

void WeightBlock::Add(const std::string& name, StoredTensor tensor) {
  tensors.emplace_back(name, std::move(tensor));
}

const torch::Tensor& BlockTensors::operator[](const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Internal("weight block has no tensor '" + name + "'");
  return it->second;
}

BlockTensors DirectWeightProvider::Acquire(const WeightBlock& block) {
  std::unordered_map<std::string, torch::Tensor> tensors;
  tensors.reserve(block.tensors.size());
  for (const auto& [name, stored] : block.tensors) {
    tensors.emplace(name, Materialize(stored, compute_dtype_, device_));
  }
  return BlockTensors(std::move(tensors));
}

}  // namespace streamdit::engine
