// Widening weights to float32 at memory speed. libtorch 1.13's CPU conversion from bfloat16 or
// float16 runs element by element through a generic path (about 45-85 M elements/s on this
// machine's cores), which made converting stored weights at each use about half of a direct-path
// forward pass (issue 15). Both conversions are exact, so a plain loop computes the very bits
// libtorch does: bfloat16 is the upper half of a float32; float16 goes through the CPU's F16C
// instructions (IEEE conversion, as c10::Half's).
#pragma once

#include <torch/types.h>

namespace streamdit::engine {

// Whether WidenToFloat32 has a fast path for this source: a contiguous CPU tensor of bfloat16,
// or of float16 on a CPU with F16C.
bool CanWidenToFloat32(const torch::Tensor& source);

// A new contiguous float32 tensor equal to source.to(torch::kFloat), bit for bit. Requires
// CanWidenToFloat32(source). Splits large tensors over libtorch's intra-op threads.
torch::Tensor WidenToFloat32(const torch::Tensor& source);

}  // namespace streamdit::engine
