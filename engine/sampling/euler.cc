#include "engine/sampling/euler.h"

#include <ATen/ATen.h>

#include <string>

#include "engine/checkpoint/shape_string.h"
#include "engine/sampling/cancelled.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

torch::Tensor EulerSample(torch::Tensor img, const std::vector<double>& timesteps,
                          const FlowPredictor& predict, const SamplingHooks& hooks) {
  if (timesteps.size() < 2) {
    throw InvalidArgument("timesteps must hold at least 2 values, got " +
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
      throw InvalidArgument("prediction shape " + ShapeString(pred.sizes()) +
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
