// Reads a LoRA file (safetensors) in any of the formats of flux-spec.md §7 and maps it onto the
// linear layers of a pipeline's models (lora_targets.h):
//   kohya      <name>.lora_down.weight [r, in], <name>.lora_up.weight [out, r], <name>.alpha;
//              scale alpha / r with r the rows of lora_down (the merged split-qkv files: n * r),
//              alpha missing or 0: scale 1.
//   diffusers  <name>.lora_A.weight [r, in], <name>.lora_B.weight [out, r]; scale lora_alpha / r
//              from the file's "lora_adapter_metadata" (per component: "transformer.lora_alpha"),
//              else 1. Split q/k/v and proj_mlp land on their rows of the fused BFL layers; the
//              final adaLN's halves are swapped into BFL's order.
//   bfl        <module>.lora_A.weight, <module>.lora_B.weight, optional <module>.lora_B.bias;
//              scale 1 (the request's strength is BFL's lora scale).
// The file is memory-mapped and its tensors are viewed, not copied.
#pragma once

#include <memory>
#include <string>

#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_targets.h"

namespace streamdit::engine {

// Throws CheckpointError naming the file and the key: NOT_FOUND when the file cannot be read,
// DATA_LOSS when it is corrupt or truncated, of no known LoRA format, names a layer the models do
// not have, lacks one half of a pair, has halves whose ranks differ, shapes that do not fit the
// layer, a non-float dtype, or NaN/infinite values.
std::shared_ptr<const LoraAdapter> LoadLoraAdapter(const std::string& path, const std::string& name,
                                                   const LoraTargets& targets);

}  // namespace streamdit::engine
