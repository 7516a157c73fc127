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

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool IsEmbeddingTable(const std::string& name) {
  return name.find("embedding") != std::string::npos ||
         name.find("embed_tokens") != std::string::npos || name == "shared.weight" ||
         EndsWith(name, ".shared.weight") ||
         name.find("relative_attention_bias") != std::string::npos;
}

bool DecodedAtUse(const std::string& name, const StoredTensor& tensor, torch::ScalarType compute) {
  return tensor.defined() && tensor.dim() == 2 && EndsWith(name, ".weight") &&
         !IsEmbeddingTable(name) && MaterializeCopies(tensor, compute);
}

BlockTensors::BlockTensors(const std::vector<std::pair<std::string, StoredTensor>>& stored,
                           torch::ScalarType compute, torch::Device device)
    : compute_(compute), device_(device) {
  tensors_.reserve(stored.size());
  for (const auto& [name, tensor] : stored) {
    if (DecodedAtUse(name, tensor, compute)) {
      deferred_.emplace(name, tensor);
    } else {
      tensors_.emplace(name, Materialize(tensor, compute, device));
    }
  }
}

torch::Tensor BlockTensors::operator[](const std::string& name) const {
  if (auto it = tensors_.find(name); it != tensors_.end()) return it->second;
  if (auto it = deferred_.find(name); it != deferred_.end()) {
    return Materialize(it->second, compute_, device_);
  }
  throw Internal("weight block has no tensor '" + name + "'");
}

BlockTensors DirectWeightProvider::Acquire(const WeightBlock& block) {
  return BlockTensors(block.tensors, compute_dtype_, device_);
}

}  // namespace streamdit::engine
