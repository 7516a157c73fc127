// How weights are held in the host tier. A bf16 (or f16/f32) checkpoint can be kept as fp8 e4m3
// with a per-tensor scale: the host copy and every transfer to the device take half the bytes of
// bf16, and the device up-casts at use (Materialize). Only matmul weights go to fp8; norm scales,
// biases, 1-D tensors and embedding tables stay in their precision (they are small and the output
// is most sensitive to them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/weight_block.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {

enum class WeightStorage {
  kAsStored,  // the checkpoint's own dtype (bf16 for FLUX releases)
  kFp8,       // matmul weights as fp8 e4m3 with a per-tensor scale
};

// "fp8" -> kFp8; "bf16" and "as-stored" -> kAsStored (a bf16 checkpoint is held as it is).
// Throws StatusError INVALID_ARGUMENT naming the value and the accepted ones.
WeightStorage ParseWeightStorage(const std::string& value);
// "fp8" or "as-stored"; ParseWeightStorage accepts it back.
const char* WeightStorageName(WeightStorage storage);

// Whether fp8 storage holds this tensor as fp8: a 2-D floating (or already fp8) tensor named
// "*.weight" that is not an embedding table.
bool StoredAsFp8(const std::string& name, const StoredTensor& tensor);

// Replaces, in place, each tensor of `blocks` that StoredAsFp8 selects by an fp8 e4m3 copy in
// host-tier memory (per-tensor scale; outside the device meter). Tensors already in fp8 are kept
// as they are. Returns the bytes saved (host bytes before minus after).
int64_t ConvertBlocksToFp8(const std::vector<WeightBlock*>& blocks);

}  // namespace streamdit::engine
