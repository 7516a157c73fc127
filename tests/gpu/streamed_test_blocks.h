// Weight blocks for the streaming tests on a device: a few MB each, with the stored formats a
// streamed FLUX block has (fp8 codes of a matmul weight, a bf16 weight, an f32 bias), held in the
// host tier like a loaded model's.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/model/weight_block.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine::testing_support {

inline std::vector<std::unique_ptr<WeightBlock>> StreamedTestBlocks(int n) {
  std::vector<std::unique_ptr<WeightBlock>> blocks;
  for (int i = 0; i < n; ++i) {
    auto block = std::make_unique<WeightBlock>();
    block->name = "blocks." + std::to_string(i);
    block->Add("a.weight", ToStorage(torch::randn({1024, 1024 + 64 * i}), DType::kF8E4M3));
    block->Add("b.weight", ToStorage(torch::randn({512, 768}), DType::kBF16));
    block->Add("b.bias", ToStorage(torch::randn({768}), DType::kF32));
    blocks.push_back(std::move(block));
  }
  return blocks;
}

inline std::vector<WeightBlock*> BlockPointers(
    const std::vector<std::unique_ptr<WeightBlock>>& blocks) {
  std::vector<WeightBlock*> out;
  for (const auto& b : blocks) out.push_back(b.get());
  return out;
}

}  // namespace streamdit::engine::testing_support
