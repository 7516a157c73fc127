#include "engine/model/scoped_block.h"

#include <ATen/ATen.h>

namespace streamdit::engine {

torch::Tensor ScopedBlock::Linear(const torch::Tensor& x, const std::string& module) const {
  const std::string bias = module + ".bias";
  return at::linear(x, tensors_[module + ".weight"],
                    tensors_.has(bias) ? tensors_[bias] : torch::Tensor());
}

}  // namespace streamdit::engine
