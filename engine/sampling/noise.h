#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace streamdit::engine {

// The initial latent noise of a FLUX job, drawn exactly as Black Forest Labs' `get_noise`
// (flux/sampling.py):
//   torch.randn(batch, 16, 2·ceil(H/16), 2·ceil(W/16), dtype=bfloat16,
//               generator=torch.Generator("cpu").manual_seed(seed))
// Returns a contiguous CPU bf16 tensor in NCHW; the caller moves it to its device and converts it
// to the compute dtype. Drawing on the CPU generator (never a device generator) is what makes a
// seed mean the same image on every device and in the reference implementation.
//
// Note inherited from PyTorch's CPU generator (mt19937 seeded with a 32-bit value): only the low
// 32 bits of `seed` select the stream, so seeds that differ only above bit 31 give the same noise,
// exactly as they do in BFL.
//
// `height`/`width` are in pixels (any positive value; non-multiples of 16 round up).
// Throws StatusError (INVALID_ARGUMENT) for batch, height or width < 1.
torch::Tensor FluxNoise(int64_t batch, int64_t height, int64_t width, uint64_t seed);

// One image of noise per seed, each drawn alone: row i is FluxNoise(1, height, width, seeds[i]),
// so an image of a batch is exactly the one-image job with its seed (what the public API's
// consecutive seeds promise), whatever else shares the batch. Throws as FluxNoise, and for an
// empty `seeds`.
torch::Tensor FluxNoiseForSeeds(const std::vector<uint64_t>& seeds, int64_t height, int64_t width);

}  // namespace streamdit::engine
