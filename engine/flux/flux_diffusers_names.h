// How the diffusers layout names the FLUX transformer's tensors (flux-spec.md §1.6): the checkpoint
// loader assembles BFL tensors from them, and the LoRA loader maps diffusers/PEFT adapters onto
// the BFL layers with them.
#pragma once

#include <string>
#include <vector>

namespace streamdit::engine {

// Where a BFL tensor comes from in a diffusers checkpoint: one tensor, or several whose rows are
// concatenated (split q/k/v; the single blocks' linear1 is q, k, v, then the MLP's input), and
// whether its two row halves are swapped (the final adaLN: diffusers stores scale before shift).
struct DiffusersSource {
  std::vector<std::string> parts;  // empty: the tensor has no diffusers equivalent
  bool swap_halves = false;
};

// `bfl`: a full BFL tensor name, e.g. "double_blocks.0.img_attn.qkv.weight".
DiffusersSource DiffusersSourceOf(const std::string& bfl);

}  // namespace streamdit::engine
