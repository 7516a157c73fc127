#include "engine/tensor/reproducible_kernels.h"

#include <cstdlib>

namespace streamdit::engine {
namespace {

// Runs before main(), before any BLAS call: MKL reads MKL_CBWR once, at its first use.
const bool kModeSet = [] {
  setenv("MKL_CBWR", "AUTO,STRICT", /*overwrite=*/0);
  return true;
}();

}  // namespace

const char* ReproducibleKernelsMode() {
  static_cast<void>(kModeSet);
  const char* mode = std::getenv("MKL_CBWR");
  return mode != nullptr ? mode : "";
}

}  // namespace streamdit::engine

extern "C" const char* streamdit_reproducible_kernels() {
  return streamdit::engine::ReproducibleKernelsMode();
}
