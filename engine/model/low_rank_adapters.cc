#include "engine/model/low_rank_adapters.h"

#include <ATen/ATen.h>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

// target += scale * (up (down x) + up_bias), in place: only the [..., rank] product is new, so a
// delta adds rank * (in + rows) work per row and no activation the size of the layer's output.
void AddDelta(const LowRankDelta& delta, const torch::Tensor& x, torch::Tensor target) {
  const torch::Tensor down = at::linear(x, delta.down);  // [..., rank]
  torch::Tensor rows;
  try {
    rows = target.view({-1, target.size(-1)});  // a view of y: no copy
  } catch (const c10::Error&) {
    // A layout that cannot be flattened in place (no caller makes one): via a temporary.
    target.add_(at::linear(down, delta.up, delta.up_bias), delta.scale);
    return;
  }
  rows.addmm_(down.reshape({-1, down.size(-1)}), delta.up.t(), /*beta=*/1, delta.scale);
  if (delta.up_bias.defined()) rows.add_(delta.up_bias, delta.scale);
}

}  // namespace

void BlockAdapters::Add(const std::string& module, LowRankDelta delta) {
  deltas_[module].push_back(std::move(delta));
}

void BlockAdapters::Apply(const std::string& module, const torch::Tensor& x,
                          torch::Tensor& y) const {
  auto found = deltas_.find(module);
  if (found == deltas_.end()) return;
  for (const LowRankDelta& delta : found->second) {
    const int64_t rows = delta.up.size(0);
    if (delta.down.size(1) != x.size(-1) || delta.row_offset + rows > y.size(-1)) {
      throw Internal("a low-rank delta of '" + module + "' does not fit the layer: [" +
                     std::to_string(rows) + " rows at " + std::to_string(delta.row_offset) + ", " +
                     std::to_string(delta.down.size(1)) + " inputs] for " +
                     std::to_string(x.size(-1)) + " -> " + std::to_string(y.size(-1)));
    }
    if (delta.samples.empty()) {
      AddDelta(delta, x, y.narrow(-1, delta.row_offset, rows));
      continue;
    }
    const int64_t per = delta.batch_samples;
    if (per < 1 || x.size(0) % per != 0) {
      throw Internal("a low-rank delta of '" + module + "' for a batch of " + std::to_string(per) +
                     " samples got " + std::to_string(x.size(0)) + " rows");
    }
    // [N, ...] -> [N / per, per, ...]: sample b's rows are [:, b].
    std::vector<int64_t> grouped = {x.size(0) / per, per};
    for (int64_t d = 1; d < x.dim(); ++d) grouped.push_back(x.size(d));
    const torch::Tensor xs = x.reshape(grouped);
    grouped.back() = y.size(-1);
    torch::Tensor ys = y.view(grouped);
    for (int64_t sample : delta.samples) {
      AddDelta(delta, xs.select(1, sample),
               ys.select(1, sample).narrow(-1, delta.row_offset, rows));
    }
  }
}

BlockTensors AdaptedWeightProvider::Acquire(const WeightBlock& block) {
  BlockTensors tensors = base_->Acquire(block);
  if (auto found = adapters_->find(block.name); found != adapters_->end()) {
    tensors.set_adapters(found->second);
  }
  return tensors;
}

}  // namespace streamdit::engine
