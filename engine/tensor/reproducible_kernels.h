// The same inputs give the same bits: the torch wheel's BLAS (Intel MKL) otherwise picks kernels by
// the memory alignment of its operands, so a weight read from a different file offset (a diffusers
// file against a BFL one, a LoRA-free job against a cached adapter) changed results in the last
// ulps. MKL's conditional numerical reproducibility (MKL_CBWR=AUTO,STRICT: the machine's best code
// path, results independent of alignment for a given thread count) is set before MKL initializes,
// by a static initializer of this file's object, unless the environment already names a mode.
#pragma once

namespace streamdit::engine {

// The MKL_CBWR mode in force for this process ("AUTO,STRICT" unless the environment set one).
const char* ReproducibleKernelsMode();

}  // namespace streamdit::engine

// A C name for the linker: every binary that links the engine is linked with
// --undefined=streamdit_reproducible_kernels (engine/CMakeLists.txt), which pulls this object and
// its initializer in even where nothing calls it.
extern "C" const char* streamdit_reproducible_kernels();
