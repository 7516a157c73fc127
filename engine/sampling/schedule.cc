#include "engine/sampling/schedule.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {

std::vector<double> FluxSchedule(int num_steps, int64_t image_seq_len, bool shift,
                                 double base_shift, double max_shift, int64_t base_seq_len,
                                 int64_t max_seq_len) {
  if (num_steps < 1) {
    throw InvalidArgument("num_steps must be at least 1, got " + std::to_string(num_steps));
  }
  if (image_seq_len < 1) {
    throw InvalidArgument("image_seq_len must be at least 1, got " + std::to_string(image_seq_len));
  }
  if (shift && max_seq_len <= base_seq_len) {
    throw InvalidArgument("max_seq_len (" + std::to_string(max_seq_len) +
                          ") must be greater than base_seq_len (" + std::to_string(base_seq_len) +
                          ")");
  }
  // torch.linspace(1, 0, num_steps + 1), float32 as in BFL.
  at::Tensor t = at::linspace(1.0, 0.0, num_steps + 1, at::TensorOptions().dtype(at::kFloat));
  if (shift) {
    // get_lin_function(x1=base_seq_len, y1=base_shift, x2=max_seq_len, y2=max_shift), in python
    // floats (double); the seq lens are python ints in both BFL and diffusers.
    const double m = (max_shift - base_shift) / static_cast<double>(max_seq_len - base_seq_len);
    const double b = base_shift - m * static_cast<double>(base_seq_len);
    const double mu = m * static_cast<double>(image_seq_len) + b;
    const double exp_mu = std::exp(mu);
    // time_shift(mu, 1.0, t) = e^mu / (e^mu + (1/t − 1)^1.0), written with the ops python's
    // operators dispatch to on a float32 tensor: `s / x` is x.reciprocal() * s, `** 1.0` is a
    // copy. 1/0 = inf makes t = 0 map to 0; t = 1 maps to e^mu/e^mu = 1.
    at::Tensor odds = at::sub(at::mul(at::reciprocal(t), 1.0), 1.0);
    t = at::mul(at::reciprocal(at::add(odds, exp_mu)), exp_mu);
  }
  t = t.contiguous();
  const float* values = t.data_ptr<float>();
  return std::vector<double>(values, values + t.numel());
}

}  // namespace streamdit::engine
