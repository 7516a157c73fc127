#include "engine/vae/vae_layers.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "engine/memory/cpu_kernel_scratch.h"

namespace streamdit::engine {
namespace {

constexpr double kGroupNormEps = 1e-6;

bool IsHalfPrecision(torch::ScalarType type) {
  return type == torch::kHalf || type == torch::kBFloat16;
}

// A weight in the activation's dtype (a no-op when the provider already hands out that dtype).
torch::Tensor Param(const BlockTensors& tensors, const std::string& name, torch::ScalarType type) {
  return tensors[name].to(type);
}

}  // namespace

torch::Tensor VaeGroupNorm(const torch::Tensor& x, const BlockTensors& tensors,
                           const std::string& prefix, int64_t groups, bool swish) {
  const torch::ScalarType stats_type =
      IsHalfPrecision(x.scalar_type()) ? torch::kFloat : x.scalar_type();
  torch::Tensor y =
      at::group_norm(x.to(stats_type), groups, Param(tensors, prefix + ".weight", stats_type),
                     Param(tensors, prefix + ".bias", stats_type), kGroupNormEps);
  if (swish) at::silu_(y);
  return y.to(x.scalar_type());
}

torch::Tensor VaeConv(const torch::Tensor& x, const BlockTensors& tensors,
                      const std::string& prefix) {
  const torch::Tensor weight = Param(tensors, prefix + ".weight", x.scalar_type());
  if (weight.size(2) == 1 && weight.size(3) == 1) {
    // A 1x1 convolution is a linear map over channels. libtorch 1.13's oneDNN 1x1 kernel gives
    // results that depend on the thread count; the linear path is deterministic, and the same
    // request must give the same PNG bytes whatever the threads.
    const torch::Tensor bias = Param(tensors, prefix + ".bias", x.scalar_type());
    torch::Tensor rows = x.permute({0, 2, 3, 1});  // [B, H, W, C]
    torch::Tensor out = at::linear(rows, weight.flatten(1), bias);
    return out.permute({0, 3, 1, 2}).contiguous();
  }
  const int64_t pad = weight.size(2) / 2;
  if (x.is_cpu() && !CpuRunsNatively(x.scalar_type())) {
    // No native 16-bit convolution here (cpu_kernel_scratch.h): float32 through oneDNN, whose
    // bytes the memory model counts, rather than ATen's im2col fallback.
    const torch::Tensor bias = Param(tensors, prefix + ".bias", torch::kFloat);
    return at::conv2d(x.to(torch::kFloat), weight.to(torch::kFloat), bias, /*stride=*/1,
                      /*padding=*/pad)
        .to(x.scalar_type());
  }
  return at::conv2d(x, weight, Param(tensors, prefix + ".bias", x.scalar_type()), /*stride=*/1,
                    /*padding=*/pad);
}

torch::Tensor VaeResnet(const torch::Tensor& x, const BlockTensors& tensors,
                        const std::string& prefix, int64_t groups) {
  torch::Tensor h = VaeGroupNorm(x, tensors, prefix + ".norm1", groups, /*swish=*/true);
  h = VaeConv(h, tensors, prefix + ".conv1");
  h = VaeGroupNorm(h, tensors, prefix + ".norm2", groups, /*swish=*/true);
  h = VaeConv(h, tensors, prefix + ".conv2");
  if (tensors.has(prefix + ".nin_shortcut.weight")) {
    return h.add_(VaeConv(x, tensors, prefix + ".nin_shortcut"));
  }
  return h.add_(x);
}

torch::Tensor VaeAttention(const torch::Tensor& x, const BlockTensors& tensors,
                           const std::string& prefix, int64_t groups, int64_t query_chunk) {
  const torch::ScalarType type = x.scalar_type();
  const int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const int64_t positions = height * width;
  // [B, C, H, W] -> [B, HW, C]: positions are tokens, channels are features.
  const torch::Tensor h = VaeGroupNorm(x, tensors, prefix + ".norm", groups, /*swish=*/false)
                              .flatten(2)
                              .transpose(1, 2)
                              .contiguous();
  auto project = [&](const char* name, const torch::Tensor& input) {
    const std::string stem = prefix + "." + name;
    return at::linear(input, Param(tensors, stem + ".weight", type),
                      Param(tensors, stem + ".bias", type));
  };
  // The softmax scale is folded into q once instead of scaling every score chunk.
  const torch::Tensor q = project("q", h).mul_(1.0 / std::sqrt(static_cast<double>(channels)));
  const torch::Tensor k = project("k", h);
  const torch::Tensor v = project("v", h);

  torch::Tensor attended = at::empty_like(q);
  const int64_t chunk = std::max<int64_t>(1, query_chunk);
  for (int64_t b = 0; b < batch; ++b) {
    const torch::Tensor keys_t = k[b].t();
    for (int64_t start = 0; start < positions; start += chunk) {
      const int64_t count = std::min(chunk, positions - start);
      const torch::Tensor scores = at::matmul(q[b].narrow(0, start, count), keys_t);
      // Softmax accumulates in float32 for half-precision activations, as SDPA kernels do.
      const torch::Tensor probs = IsHalfPrecision(type)
                                      ? at::softmax(scores, -1, torch::kFloat).to(type)
                                      : at::softmax(scores, -1);
      attended[b].narrow(0, start, count).copy_(at::matmul(probs, v[b]));
    }
  }
  const torch::Tensor out =
      project("proj_out", attended).transpose(1, 2).reshape({batch, channels, height, width});
  return x + out;
}

torch::Tensor VaeUpsample(const torch::Tensor& x, const BlockTensors& tensors,
                          const std::string& prefix) {
  const int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  // Nearest x2 as a broadcast copy: exact for every dtype and device.
  const torch::Tensor up = x.reshape({batch, channels, height, 1, width, 1})
                               .expand({batch, channels, height, 2, width, 2})
                               .reshape({batch, channels, 2 * height, 2 * width});
  return VaeConv(up, tensors, prefix + ".conv");
}

}  // namespace streamdit::engine
