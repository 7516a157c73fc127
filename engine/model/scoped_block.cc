#include "engine/model/scoped_block.h"

#include <ATen/ATen.h>

#include "engine/model/low_rank_adapters.h"
#include "engine/tensor/linear_kernel.h"

namespace streamdit::engine {

torch::Tensor ScopedBlock::Linear(const torch::Tensor& x, const std::string& module) const {
  const std::string bias = module + ".bias";
  // A weight decoded at use is a temporary of this expression: freed before the LoRA deltas run.
  torch::Tensor y = LinearForward(x, tensors_[module + ".weight"],
                                  tensors_.has(bias) ? tensors_[bias] : torch::Tensor());
  if (const auto& adapters = tensors_.adapters()) adapters->Apply(module, x, y);
  return y;
}

}  // namespace streamdit::engine
