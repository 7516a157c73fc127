#pragma once

#include <torch/types.h>

#include <functional>
#include <vector>

namespace streamdit::engine {

// What the sampler reports after each finished step.
struct StepProgress {
  int step_index = 0;  // 0-based index of the step that just finished
  int num_steps = 0;   // timesteps.size() - 1
  double t_curr = 0;   // the timestep the denoiser was evaluated at
  double t_next = 0;   // the timestep the latent now sits at
};

// Optional observers of the sampling loop; empty functions are skipped.
struct SamplingHooks {
  // Called once after every step, from the sampling thread.
  std::function<void(const StepProgress&)> on_step;
  // Polled before every step (including the first); returning true stops the loop by throwing
  // Cancelled (engine/sampling/cancelled.h), so no further denoiser call is made.
  std::function<bool()> cancelled;
};

// The denoiser: predicted flow (velocity, ≈ noise − x0) for latent tokens `img` at time `t_curr`.
// Must return a tensor with img's shape.
using FlowPredictor = std::function<torch::Tensor(const torch::Tensor& img, double t_curr)>;

// Flow-matching Euler sampler of FLUX (BFL sampling.denoise): for each consecutive pair
// (t_curr, t_prev) of `timesteps`, img ← img + (t_prev − t_curr)·predict(img, t_curr).
//
// Dtype: the latent keeps img's dtype for the whole loop; the caller picks it (BFL keeps bf16,
// diffusers' scheduler steps in fp32). A prediction of another dtype is converted to img's dtype
// first. The update is computed as BFL's `img + (t_prev - t_curr) * pred`: two ATen ops, the
// product rounded to img's dtype before the sum (not one fused add with alpha), so a bf16 loop
// is bit-identical to BFL's given the same predictions and the same torch version. (How the
// scalar step enters is torch's business: torch 1.13, which we link, first rounds the python
// float t_prev − t_curr to bf16, exactly as BFL on torch 1.13 does; going through the same ATen
// op keeps us in step with BFL on whichever version both use.) `t_curr` is passed to `predict`
// unrounded; a denoiser that mimics BFL rounds it with RoundTimestepLike(t_curr, dtype) when
// building its timestep tensor (BFL: torch.full(..., t_curr, dtype=img.dtype)), and then scales by
// 1000 in that same dtype inside the timestep embedding (e.g. bf16: t = 0.9045 → 0.90625 → 1000·t =
// 906.25 → 908).
//
// Throws StatusError INVALID_ARGUMENT for fewer than 2 timesteps or a prediction of the wrong
// shape, Cancelled when hooks.cancelled() returns true before a step.
torch::Tensor EulerSample(torch::Tensor img, const std::vector<double>& timesteps,
                          const FlowPredictor& predict, const SamplingHooks& hooks = {});

// The value `t` takes once stored in a tensor of `dtype` (as torch.full(..., t, dtype=dtype)
// stores it): e.g. bf16 keeps 8 significant bits, so 0.9045 becomes 0.90625. Identity for
// float64.
double RoundTimestepLike(double t, torch::ScalarType dtype);

}  // namespace streamdit::engine
