// The time of one denoising step before it runs: the transformer's floating-point operations at a
// compute rate, beside the bytes a residency plan streams per step at a transfer bandwidth. With
// prefetching the two overlap (the step takes the longer); without, they add up. `streamdit plan`
// prints it; the rate and bandwidth are measured here (MeasureComputeRate, MeasureCopyBandwidth in
// engine/memory/bandwidth_probe.h) or given for a GPU.
#pragma once

#include <cstdint>

namespace streamdit::engine {

class FluxTransformer;

// Floating-point operations of one denoising step: every matmul weight against the tokens it
// reads (the double blocks' image weights against image tokens, text weights against text
// tokens), and attention's two L x L products per block. Reads only shapes.
double DenoiseStepFlops(const FluxTransformer& transformer, int64_t batch, int64_t img_tokens,
                        int64_t txt_tokens);

// float32 matmul rate of this process (libtorch's threads), in FLOP/s; takes a few hundred ms.
double MeasureComputeRate();

struct StepTimePrediction {
  double compute_seconds = 0;
  double transfer_seconds = 0;
  double step_seconds = 0;  // max of the two with prefetch, their sum without
};

// flops at `flops_per_second`; streamed_bytes at `bytes_per_second`; prefetch_depth 0 serialises.
StepTimePrediction PredictStepTime(double flops, double flops_per_second, int64_t streamed_bytes,
                                   double bytes_per_second, int prefetch_depth);

}  // namespace streamdit::engine
