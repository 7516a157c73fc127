#include "engine/sampling/euler.h"

#include <ATen/ATen.h>

#include <sstream>
#include <stdexcept>
#include <string>

#include "engine/sampling/cancelled.h"

namespace streamdit::engine {
namespace {

std::string ShapeString(at::IntArrayRef sizes) {
  std::ostringstream out;
  out << sizes;
  return out.str();
}

}  // namespace

torch::Tensor EulerSample(torch::Tensor img, const std::vector<double>& timesteps,
                          const FlowPredictor& predict, const SamplingHooks& hooks) {
  if (timesteps.size() < 2) {
    throw std::invalid_argument("timesteps must hold at least 2 values, got " +
                                std::to_string(timesteps.size()));
  }
  const int num_steps = static_cast<int>(timesteps.size()) - 1;
  for (int step = 0; step < num_steps; ++step) {
    if (hooks.cancelled && hooks.cancelled()) {
      throw Cancelled(step);
    }
    const double t_curr = timesteps[step];
    const double t_next = timesteps[step + 1];
    torch::Tensor pred = predict(img, t_curr);
    if (!pred.sizes().equals(img.sizes())) {
      throw std::invalid_argument("prediction shape " + ShapeString(pred.sizes()) +
                                  " differs from latent shape " + ShapeString(img.sizes()));
    }
    if (pred.scalar_type() != img.scalar_type()) {
      pred = pred.to(img.scalar_type());
    }
    img = at::add(img, at::mul(pred, t_next - t_curr));
    if (hooks.on_step) {
      hooks.on_step(StepProgress{step, num_steps, t_curr, t_next});
    }
  }
  return img;
}

double RoundTimestepLike(double t, torch::ScalarType dtype) {
  return at::scalar_tensor(t, at::TensorOptions().dtype(dtype)).item<double>();
}

}  // namespace streamdit::engine
