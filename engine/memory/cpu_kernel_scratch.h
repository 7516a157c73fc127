// The scratch memory CPU kernels take beyond their outputs, as a bound the activation models add,
// so that predictions hold whichever kernels the machine picks (ISA, library version).
//
// Measured facts behind it (torch 2.11's wheel; tests/unit/engine/cpu_kernel_scratch_test.cc
// sweeps the shapes again on every machine CI runs on):
//  - float32 matmuls go to MKL's sgemm, which takes no memory through libtorch's allocator;
//  - 16-bit matmuls go to oneDNN where the CPU runs that dtype natively (AVX-512 BF16, AMX), which
//    takes a scratchpad through libtorch's allocator: per thread, growing with the reduction
//    depth up to ~193 KiB (2 threads: 10 KiB at k = 64, 265 KiB at k = 3072, 386 KiB from m >=
//    1024);
//  - elsewhere (AVX2 only) ATen's own 16-bit GEMM runs, with no scratch.
// Which case holds is not guessed from CPU flags: a probe runs one tiny matmul of the dtype under a
// private meter, once per process and dtype, and looks at what it allocated.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace streamdit::engine {

// Per-thread upper bound on a native 16-bit matmul's scratch (above the largest seen, ~193 KiB).
inline constexpr int64_t kNativeMatmulScratchPerThread = int64_t{256} << 10;

// Whether matmuls of `dtype` on this CPU take scratch through libtorch's allocator (probed once).
// float32 and float64: false. Installs the CPU meter (CpuMemoryMeter) when it is not yet installed.
bool CpuMatmulTakesScratch(torch::ScalarType dtype);

// Whether oneDNN runs `dtype` natively on this CPU (true for float32): the probe above found its
// scratchpad. Where it does not, a 16-bit convolution would fall to ATen's im2col kernel, whose
// column buffer is nine times the input; the VAE then convolves in float32 instead
// (vae_layers.cc), a path whose bytes its memory model counts on every machine.
bool CpuRunsNatively(torch::ScalarType dtype);

// The most bytes one CPU matmul/linear of `dtype` allocates beyond its output, at the process's
// current thread count (at::get_num_threads()): kNativeMatmulScratchPerThread per thread when the
// probe found scratch, else 0.
int64_t CpuMatmulScratchBytes(torch::ScalarType dtype);

}  // namespace streamdit::engine
