// y = x·wᵀ (+ b): the linear that every transformer and text-encoder layer calls
// (ScopedBlock::Linear), the matmul scratch probe and the step-time probe, so the kernel a forward
// runs is the kernel its memory model and its step-time estimate were measured on. (The VAE, a
// convolution network, keeps at::linear for its few 512-wide projections.)
//
// Why not at::linear everywhere: on the CPU, libtorch sends float32 linears to its BLAS (MKL's
// sgemm), which runs a generic AVX2 path on AMD CPUs. oneDNN's matmul, which libtorch ships too
// and already uses for 16-bit, picks its kernels from the CPU's features whoever made it. On an
// AVX-512 AMD EPYC it ran FLUX's linears at 2.1-2.3x sgemm's rate (bench/eager's table),
// and 1.1-1.2x with oneDNN held to AVX2. Its output differs from sgemm's in the last bits (a
// different order of the reduction), within every parity tolerance.
//
// The same bits whatever the thread count (a request gives the same PNG on any machine's core
// count): oneDNN splits a matmul's reduction across threads for some shapes (16 x 1024 x 128 on an
// AVX-512 EPYC differs between 1 and 2 threads), so it is never left to thread one matmul.
// LinearForward cuts the output into tiles of kOneDnnTileRows x kOneDnnTileCols, fixed by the
// shape alone, and computes each tile with one single-threaded oneDNN call inside ATen's parallel
// region (oneDNN runs sequentially there); tiles are spread over the threads. At one thread the
// tiles ran at 0.94-1.07x the time of one whole-matrix call on FLUX's shapes. A matmul of one tile
// only (at most 256 rows and 1024 outputs) goes to the BLAS.
//
// The float32 CPU kernel is a process-wide choice (SetCpuLinearKernel) so that benchmarks can run
// both side by side; the default is oneDNN wherever libtorch was built with it. Other devices and
// dtypes, and operands oneDNN cannot take as they are (a non-contiguous weight), use at::linear.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string_view>

namespace streamdit::engine {

// Tile of the output each single-threaded oneDNN call computes.
inline constexpr int64_t kOneDnnTileRows = 256;
inline constexpr int64_t kOneDnnTileCols = 1024;
// What a tile holds while it is copied into the output, per thread computing one.
inline constexpr int64_t kOneDnnTileBytes = kOneDnnTileRows * kOneDnnTileCols * 4;

enum class CpuLinearKernel {
  kBlas,    // at::linear: libtorch's BLAS (MKL sgemm in the PyPI wheel)
  kOneDnn,  // mkldnn::_linear_pointwise: oneDNN's matmul on the dense weight, no reorder
};

std::string_view CpuLinearKernelName(CpuLinearKernel kernel);
// Parses "blas" or "onednn"; false for anything else.
bool ParseCpuLinearKernel(std::string_view name, CpuLinearKernel* kernel);

// Whether this libtorch has oneDNN's linear (mkldnn::_linear_pointwise registered for the CPU).
bool OneDnnLinearAvailable();

// The float32 CPU kernel in force: the last SetCpuLinearKernel, else kOneDnn where available.
CpuLinearKernel CurrentCpuLinearKernel();
// Sets the float32 CPU kernel for the process. kOneDnn where it is unavailable falls to kBlas.
// Call it before jobs run: the matmul scratch probe (cpu_kernel_scratch.h) caches per kernel, but
// a job already planned keeps the prediction it made.
void SetCpuLinearKernel(CpuLinearKernel kernel);

// The kernel LinearForward runs for these operands: kOneDnn only for float32 CPU operands, x
// contiguous with at least 2 dimensions, a contiguous 2-D weight, a matching bias, no element-free
// dimension and more than one tile, under kOneDnn in force.
CpuLinearKernel LinearKernelFor(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias);

// x [..., in] · weight [out, in]ᵀ + bias [out] (bias may be undefined): at::linear's contract.
torch::Tensor LinearForward(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias = torch::Tensor());

}  // namespace streamdit::engine
