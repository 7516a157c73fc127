#include "engine/tensor/linear_kernel.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/List.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <vector>

#include "engine/memory/device_charge.h"

namespace streamdit::engine {
namespace {

using OneDnnLinearSignature = at::Tensor(const at::Tensor&, const at::Tensor&,
                                         const std::optional<at::Tensor>&, std::string_view,
                                         c10::List<std::optional<at::Scalar>>,
                                         std::optional<std::string_view>);

// The operator's handle, looked up once; nullopt where libtorch lacks it.
const std::optional<c10::TypedOperatorHandle<OneDnnLinearSignature>>& OneDnnLinearOp() {
  static const auto* op = [] {
    auto* handle = new std::optional<c10::TypedOperatorHandle<OneDnnLinearSignature>>();
    if (!at::hasMKLDNN()) return handle;
    const auto found = c10::Dispatcher::singleton().findSchema({"mkldnn::_linear_pointwise", ""});
    if (found.has_value() && found->hasKernelForDispatchKey(c10::DispatchKey::CPU)) {
      *handle = found->typed<OneDnnLinearSignature>();
    }
    return handle;
  }();
  return *op;
}

// This thread plans OpenMP work for one thread while the scope lasts. Inside ATen's parallel
// region oneDNN executes sequentially, but it still plans a primitive for omp_get_max_threads()
// threads, splitting the reduction for some shapes; a tile's primitive must be planned for one.
// (This file is compiled with OpenMP against the runtime libtorch loads: engine/CMakeLists.txt.)
class SingleThreadedScope {
 public:
  SingleThreadedScope() : previous_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadedScope() { omp_set_num_threads(previous_); }
  SingleThreadedScope(const SingleThreadedScope&) = delete;
  SingleThreadedScope& operator=(const SingleThreadedScope&) = delete;

 private:
  const int previous_;
};

// -1: not set (the default applies).
std::atomic<int> g_chosen_kernel{-1};

}  // namespace

std::string_view CpuLinearKernelName(CpuLinearKernel kernel) {
  return kernel == CpuLinearKernel::kOneDnn ? "onednn" : "blas";
}

bool ParseCpuLinearKernel(std::string_view name, CpuLinearKernel* kernel) {
  if (name == "onednn") {
    *kernel = CpuLinearKernel::kOneDnn;
  } else if (name == "blas") {
    *kernel = CpuLinearKernel::kBlas;
  } else {
    return false;
  }
  return true;
}

bool OneDnnLinearAvailable() { return OneDnnLinearOp().has_value(); }

CpuLinearKernel CurrentCpuLinearKernel() {
  const int chosen = g_chosen_kernel.load(std::memory_order_relaxed);
  if (chosen >= 0) return static_cast<CpuLinearKernel>(chosen);
  return OneDnnLinearAvailable() ? CpuLinearKernel::kOneDnn : CpuLinearKernel::kBlas;
}

void SetCpuLinearKernel(CpuLinearKernel kernel) {
  if (kernel == CpuLinearKernel::kOneDnn && !OneDnnLinearAvailable()) {
    kernel = CpuLinearKernel::kBlas;
  }
  g_chosen_kernel.store(static_cast<int>(kernel), std::memory_order_relaxed);
}

CpuLinearKernel LinearKernelFor(const torch::Tensor& x, const torch::Tensor& weight,
                                const torch::Tensor& bias) {
  const bool float_cpu = x.device().is_cpu() && x.scalar_type() == torch::kFloat &&
                         weight.device().is_cpu() && weight.scalar_type() == torch::kFloat;
  const bool bias_fits =
      !bias.defined() || (bias.device().is_cpu() && bias.scalar_type() == torch::kFloat &&
                          bias.dim() == 1 && bias.size(0) == weight.size(0));
  const bool shapes_fit = weight.dim() == 2 && weight.is_contiguous() && x.dim() >= 2 &&
                          x.is_contiguous() && x.numel() > 0 && weight.numel() > 0 &&
                          x.size(-1) == weight.size(1);
  // One tile is computed by the BLAS (the header says why).
  const bool several_tiles =
      shapes_fit && (x.numel() / x.size(-1) > kOneDnnTileRows || weight.size(0) > kOneDnnTileCols);
  if (float_cpu && bias_fits && several_tiles &&
      CurrentCpuLinearKernel() == CpuLinearKernel::kOneDnn) {
    return CpuLinearKernel::kOneDnn;
  }
  return CpuLinearKernel::kBlas;
}

torch::Tensor LinearForward(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias) {
  if (LinearKernelFor(x, weight, bias) == CpuLinearKernel::kBlas) {
    return at::linear(x, weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt);
  }
  const int64_t in = weight.size(1), out = weight.size(0);
  const int64_t rows = x.numel() / in;
  const int64_t row_tiles = (rows + kOneDnnTileRows - 1) / kOneDnnTileRows;
  const int64_t col_tiles = (out + kOneDnnTileCols - 1) / kOneDnnTileCols;
  std::vector<int64_t> out_sizes(x.sizes().begin(), x.sizes().end() - 1);
  out_sizes.push_back(out);
  const torch::Tensor x_rows = x.reshape({rows, in});
  torch::Tensor y = at::empty({rows, out}, x.options());
  // Each tile's own allocations (its output, oneDNN's scratchpad) are made on the thread that
  // computes it: charged to the device of the thread that called.
  MemoryMeter* const device = ScopedDeviceCharge::Current();
  const auto& op = *OneDnnLinearOp();
  at::parallel_for(0, row_tiles * col_tiles, /*grain_size=*/1, [&](int64_t begin, int64_t end) {
    ScopedDeviceCharge charge(device);
    SingleThreadedScope single_threaded;
    for (int64_t tile = begin; tile < end; ++tile) {
      const int64_t row0 = (tile / col_tiles) * kOneDnnTileRows;
      const int64_t col0 = (tile % col_tiles) * kOneDnnTileCols;
      const int64_t tile_rows = std::min(kOneDnnTileRows, rows - row0);
      const int64_t tile_cols = std::min(kOneDnnTileCols, out - col0);
      // "none": no fused post-op. oneDNN reads the weight rows in place (no reorder).
      const torch::Tensor part =
          op.call(x_rows.narrow(0, row0, tile_rows), weight.narrow(0, col0, tile_cols),
                  bias.defined() ? std::optional<at::Tensor>(bias.narrow(0, col0, tile_cols))
                                 : std::nullopt,
                  "none", c10::List<std::optional<at::Scalar>>(), std::nullopt);
      y.narrow(0, row0, tile_rows).narrow(1, col0, tile_cols).copy_(part);
    }
  });
  return y.view(out_sizes);
}

}  // namespace streamdit::engine
