#pragma once

#include <cstdint>
#include <vector>

namespace streamdit::engine {

// The FLUX timestep schedule, as Black Forest Labs' `get_schedule` (flux/sampling.py) computes it:
// num_steps + 1 values from 1 down to 0. With `shift`, every t is moved towards 1 by the
// resolution-dependent time shift
//   mu = m·image_seq_len + b,  m = (max_shift − base_shift)/(4096 − 256),  b = base_shift − 256·m
//   t ← e^mu / (e^mu + (1/t − 1))          (t = 0 and t = 1 stay where they are)
// so mu = base_shift at 256 tokens, max_shift at 4096, extrapolated linearly beyond (no clamp).
//
// Precision: BFL builds the schedule with torch.linspace in float32 and applies the shift with
// float32 tensor ops, then returns python floats (`.tolist()`). We reproduce that exactly (same
// float32 op sequence through ATen), so each returned double is a float32 value bit-identical to
// BFL's; it differs from the exact float64 formula by at most a few float32 ulps (~1e-7). The
// denoiser rounds t further to the compute dtype anyway (see RoundTimestepLike in euler.h).
//
// `image_seq_len` is the number of image tokens: ceil(H/16)·ceil(W/16) (4096 for 1024×1024).
// Throws StatusError INVALID_ARGUMENT for num_steps < 1 or image_seq_len < 1.
std::vector<double> FluxSchedule(int num_steps, int64_t image_seq_len, bool shift,
                                 double base_shift = 0.5, double max_shift = 1.15);

}  // namespace streamdit::engine
