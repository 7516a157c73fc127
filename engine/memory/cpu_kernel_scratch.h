// The scratch memory CPU kernels take beyond their outputs, as a bound the activation models add,
// so that predictions hold whichever kernels the machine picks (ISA, library version, the float32
// kernel of linear_kernel.h).
//
// Measured facts behind it (torch 2.11's wheel; tests/unit/engine/cpu_kernel_scratch_test.cc
// sweeps the shapes again on every machine CI runs on):
//  - float32 linears through oneDNN (linear_kernel.h's default) take a scratchpad through
//    libtorch's allocator: per thread, none at reductions of a few hundred, up to 257 KiB from
//    k = 3072 (AVX-512 EPYC: 65 KiB at 256 x 256 x 4096, 257 KiB at k = 3072 and 12288), none
//    with oneDNN held to AVX2; each thread also holds its output tile (1 MiB at most);
//  - float32 linears through the BLAS (MKL's sgemm) take no memory through libtorch's allocator;
//  - 16-bit matmuls go to oneDNN where the CPU runs that dtype natively (AVX-512 BF16, AMX), which
//    takes a scratchpad the same way, up to ~193 KiB per thread;
//  - elsewhere (AVX2 only) ATen's own 16-bit GEMM runs, with no scratch.
// Which case holds is not guessed from CPU flags: a probe runs a few small matmuls of the dtype
// under a private meter, once per process, dtype and float32 kernel, and looks at what it
// allocated.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace streamdit::engine {

// Per-thread upper bound on a oneDNN matmul's scratch: kMatmulScratchBytesPerReduction per element
// of the reduction, at most kNativeMatmulScratchPerThread. Seen on an AVX-512 EPYC, per thread:
// bf16 10 KiB at k = 64, up to 97 KiB at k = 256, 193 KiB from k = 3072; float32 65 KiB at
// k = 256, 257 KiB from k = 3072 (388 and 260 bytes per element at k = 256, fewer above). The cap
// is twice the largest: in 1 of 40 runs a tiled float32 matmul at 2 threads held one more block
// of 256 KiB beside both threads' tiles and scratchpads (2.82 MB against 2 x 1.28 MB).
inline constexpr int64_t kMatmulScratchBytesPerReduction = 512;
inline constexpr int64_t kNativeMatmulScratchPerThread = int64_t{512} << 10;

// Whether matmuls of `dtype` on this CPU take scratch through libtorch's allocator (probed once
// per float32 kernel). float64: false. Installs the CPU meter (CpuMemoryMeter) when it is not yet
// installed.
bool CpuMatmulTakesScratch(torch::ScalarType dtype);

// Whether oneDNN runs `dtype` natively on this CPU (true for float32): the probe above found its
// scratchpad. Where it does not, a 16-bit convolution would fall to ATen's im2col kernel, whose
// column buffer is nine times the input; the VAE then convolves in float32 instead
// (vae_layers.cc), a path whose bytes its memory model counts on every machine.
bool CpuRunsNatively(torch::ScalarType dtype);

// The largest of each dimension over a set of linears (a model's layers): rows of the input,
// the reduction (input features) and the outputs. Each bounds its own dimension separately.
struct LinearExtent {
  int64_t rows = 0;
  int64_t reduction = 0;
  int64_t outputs = 0;
};

// The most bytes one CPU linear of `dtype` within `widest` allocates beyond its output, at the
// process's current thread count (at::get_num_threads()), when the probe found scratch (else 0):
// per thread, the scratchpad bound above, plus under the tiled float32 kernel (linear_kernel.h) the
// output tile the thread holds, or 0 where every linear is one tile (those run in the BLAS).
int64_t CpuMatmulScratchBytes(torch::ScalarType dtype, const LinearExtent& widest);

// The most any one CPU linear of any dtype and shape can take beyond its output at the current
// thread count: the slack a memory model's bound may keep above a measured peak.
int64_t CpuMatmulScratchCeilingBytes();

}  // namespace streamdit::engine
