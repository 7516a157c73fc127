// Predicted activation bytes of the FLUX transformer, from shapes alone, so that a job's memory
// peak is known before it runs (the scheduler admits and places jobs by it, the residency plan
// leaves this much of the budget to activations). The model follows the forward pass in
// flux_transformer.cc tensor by tensor: which tensors are alive at each block's worst point. It
// is exact for float32 compute on the CPU's counting allocator up to small tensors (norm
// statistics, views), and conservative for 16-bit compute, whose float32 temporaries it counts
// at their largest. Keep it in step with the forward: tests hold it against measured peaks.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "engine/flux/attention.h"
#include "engine/flux/flux_config.h"
#include "engine/memory/cpu_kernel_scratch.h"

namespace streamdit::engine {

struct FluxActivationShape {
  int64_t batch = 1;
  int64_t img_tokens = 0;
  int64_t txt_tokens = 0;
  torch::ScalarType compute = torch::kFloat;
  AttentionOptions attention;
  // Where the pass runs: it decides the attention kernel (AttentionKernelFor). On the CPU the fused
  // kernel's per-thread buffers are counted for at::get_num_threads() at the time of the call.
  c10::DeviceType device = c10::DeviceType::CPU;
};

// The most bytes one forward pass (ForwardWithModulation) allocates at once beyond its inputs and
// the modulation, including its output.
int64_t FluxForwardActivationBytes(const FluxConfig& config, const FluxActivationShape& shape);

// The widest linear of a forward over `rows` tokens (all of a batch's image and text tokens), and
// of the modulation pass over `rows` rows: what sizes the matmul scratch (cpu_kernel_scratch.h).
LinearExtent FluxForwardLinearExtent(const FluxConfig& config, int64_t rows);
LinearExtent FluxModulationLinearExtent(const FluxConfig& config, int64_t rows);

// Bytes of every step's modulation rows as ComputeModulation returns them (rows = steps * batch).
int64_t FluxModulationBytes(const FluxConfig& config, int64_t rows, torch::ScalarType compute);

// The most bytes ComputeVec + ComputeModulation allocate at once (their results included).
int64_t FluxModulationPassBytes(const FluxConfig& config, int64_t rows, torch::ScalarType compute);

}  // namespace streamdit::engine
