// Page-locked host tier for streaming to a CUDA device. A copy from pageable memory goes through
// the driver's staging buffer with the host copying along; only from pinned pages does a copy on
// the copy stream run as DMA while the host queues the next kernels, which is what lets block k+1
// cross PCIe while block k computes (engine/streaming/slot_transfer.h).
//
// Contract: PinHostTier replaces, in place, each tensor of `blocks` by a copy of its stored bytes
// (fp8 codes, GGML blocks, bf16 as they are) in page-locked memory allocated for exactly its size,
// tensor by tensor, so that the host never holds two copies of more than one tensor. Tensors
// already pinned are kept. It returns the bytes it pinned: host memory, outside every device meter,
// which the caller accounts as the model's host memory. Call it once per model, at load, after any
// change of storage (ConvertBlocksToFp8) and before a job streams the model to a CUDA device; the
// pinned pages live as long as the blocks' tensors. A CPU target pins nothing (returns 0): CPU
// streaming never pins. A CUDA target in a build without CUDA throws StatusError
// FAILED_PRECONDITION; a failed page-locked allocation throws RESOURCE_EXHAUSTED naming the bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/device/execution_target.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

int64_t PinHostTier(const std::vector<WeightBlock*>& blocks, const ExecutionTarget& target);

}  // namespace streamdit::engine
