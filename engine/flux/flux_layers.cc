#include "engine/flux/flux_layers.h"

#include <ATen/ATen.h>

#include <cmath>

#include "engine/status/status_error.h"

namespace streamdit::engine {

torch::Tensor TimestepEmbedding(const torch::Tensor& t, int64_t dim, torch::ScalarType out_dtype,
                                double max_period, double time_factor) {
  const int64_t half = dim / 2;
  // BFL scales t in t's own dtype: in bf16 that rounding (1000 * t, guidance 3.5 -> 3504) is part
  // of the model's behaviour and is kept. From float32 up, the sinusoid arguments (up to ~4000 rad
  // for guidance) are formed in float64, so that f32 compute matches the exact maths to ~1e-7
  // instead of carrying float32's ~2e-4 rad argument error into every block.
  const bool low_precision = c10::elementSize(t.scalar_type()) < 4;
  torch::Tensor scaled =
      low_precision ? t.mul(time_factor).to(torch::kDouble) : t.to(torch::kDouble).mul(time_factor);
  // Made on t's device: a constant built on the CPU cannot multiply a CUDA tensor.
  const auto doubles = torch::TensorOptions().dtype(torch::kDouble).device(t.device());
  torch::Tensor freqs =
      torch::exp(torch::arange(0, half, doubles).mul(-std::log(max_period) / half));
  torch::Tensor args = scaled.unsqueeze(1) * freqs.unsqueeze(0);
  torch::Tensor embedding = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2) embedding = torch::cat({embedding, torch::zeros_like(embedding.slice(1, 0, 1))}, -1);
  return embedding.to(out_dtype);
}

torch::Tensor PlainLayerNorm(const torch::Tensor& x) {
  return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-6);
}

torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& scale) {
  torch::Tensor xf = x.to(torch::kFloat);
  torch::Tensor rrms = torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true).add(1e-6));
  return (xf * rrms).to(x.scalar_type()) * scale;
}

RopeTables RopeEmbed(const torch::Tensor& ids, const std::vector<int64_t>& axes_dim, double theta) {
  if (ids.dim() != 3 || ids.size(2) != static_cast<int64_t>(axes_dim.size())) {
    throw InvalidArgument("RoPE ids must be [B, L, " + std::to_string(axes_dim.size()) + "]");
  }
  std::vector<torch::Tensor> angles;
  torch::Tensor pos = ids.to(torch::kDouble);
  const auto doubles = torch::TensorOptions().dtype(torch::kDouble).device(ids.device());
  for (std::size_t axis = 0; axis < axes_dim.size(); ++axis) {
    const int64_t d = axes_dim[axis];
    torch::Tensor omega =
        torch::pow(theta, torch::arange(0, d, 2, doubles).div(double(d))).reciprocal();
    angles.push_back(pos.select(2, axis).unsqueeze(-1) * omega);  // [B, L, d/2]
  }
  torch::Tensor angle = torch::cat(angles, -1).unsqueeze(1);  // [B, 1, L, D/2]
  return {torch::cos(angle).to(torch::kFloat), torch::sin(angle).to(torch::kFloat)};
}

torch::Tensor ApplyRope(const torch::Tensor& x, const RopeTables& rope) {
  auto sizes = x.sizes().vec();
  torch::Tensor pairs = x.to(torch::kFloat).reshape({sizes[0], sizes[1], sizes[2], -1, 2});
  torch::Tensor x0 = pairs.select(-1, 0);
  torch::Tensor x1 = pairs.select(-1, 1);
  torch::Tensor cos = rope.cos.to(x.device());
  torch::Tensor sin = rope.sin.to(x.device());
  torch::Tensor out0 = cos * x0 - sin * x1;
  torch::Tensor out1 = sin * x0 + cos * x1;
  return torch::stack({out0, out1}, -1).reshape(sizes).to(x.scalar_type());
}

torch::Tensor GeluTanh(const torch::Tensor& x) { return at::gelu(x, "tanh"); }

}  // namespace streamdit::engine
