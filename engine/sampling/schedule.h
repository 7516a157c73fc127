#pragma once

#include <cstdint>
#include <vector>

namespace streamdit::engine {

// The FLUX timestep schedule, as Black Forest Labs' `get_schedule` (flux/sampling.py) computes it:
// num_steps + 1 values from 1 down to 0. With `shift`, every t is moved towards 1 by the
// resolution-dependent time shift
//   mu = m·image_seq_len + b,  m = (max_shift − base_shift)/(max_seq_len − base_seq_len),
//   b = base_shift − base_seq_len·m
//   t ← e^mu / (e^mu + (1/t − 1))          (t = 0 and t = 1 stay where they are)
// so mu = base_shift at base_seq_len tokens (FLUX: 256), max_shift at max_seq_len (FLUX: 4096),
// extrapolated linearly beyond (no clamp). diffusers' FluxPipeline computes the same mu
// (calculate_shift, from the scheduler config's base/max_image_seq_len) and the same shift
// (FlowMatchEulerDiscreteScheduler with use_dynamic_shifting, time_shift_type "exponential").
//
// Precision: BFL builds the schedule with torch.linspace in float32 and applies the shift with
// float32 tensor ops, then returns python floats (`.tolist()`). We reproduce that exactly (same
// float32 op sequence through ATen), so each returned double is a float32 value bit-identical to
// BFL's; it differs from the exact float64 formula by at most a few float32 ulps (~1e-7). The
// denoiser rounds t further to the compute dtype anyway (see RoundTimestepLike in euler.h).
//
// `image_seq_len` is the number of image tokens: ceil(H/16)·ceil(W/16) (4096 for 1024×1024).
// Throws StatusError INVALID_ARGUMENT for num_steps < 1, image_seq_len < 1, or (with shift)
// max_seq_len <= base_seq_len.
std::vector<double> FluxSchedule(int num_steps, int64_t image_seq_len, bool shift,
                                 double base_shift = 0.5, double max_shift = 1.15,
                                 int64_t base_seq_len = 256, int64_t max_seq_len = 4096);

}  // namespace streamdit::engine
