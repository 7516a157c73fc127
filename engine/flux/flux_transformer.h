// The FLUX.1 transformer forward pass (flux-spec.md §1.4), computed block by block from weights
// handed out by a WeightProvider, in a chosen compute dtype.
#pragma once

#include <torch/types.h>

#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/flux/attention.h"
#include "engine/flux/flux_config.h"
#include "engine/flux/flux_weights.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

struct FluxInputs {
  torch::Tensor img;        // [B, L, in_channels]
  torch::Tensor img_ids;    // [B, L, n_axes]
  torch::Tensor txt;        // [B, T, context_in_dim]
  torch::Tensor txt_ids;    // [B, T, n_axes]
  torch::Tensor timesteps;  // [B], t in [0, 1]
  torch::Tensor y;          // [B, vec_in_dim]
  torch::Tensor guidance;   // [B]; required when the model has guidance_in, ignored otherwise
};

// Throws StatusError INVALID_ARGUMENT naming the tensor and the expected shape.
void ValidateFluxInputs(const FluxConfig& config, const FluxInputs& inputs);

// Every block's adaLN modulation output for a batch of `vec` rows. Computing it for all steps of a
// request at once streams the modulation weights once per request instead of once per step.
struct FluxModulation {
  std::vector<torch::Tensor> double_img;  // [N, 6 * hidden] each: (shift, scale, gate) x 2
  std::vector<torch::Tensor> double_txt;  // [N, 6 * hidden]
  std::vector<torch::Tensor> single;      // [N, 3 * hidden]
  torch::Tensor final;                    // [N, 2 * hidden]: shift, scale

  // Rows [start, start + count) of every tensor.
  FluxModulation Rows(int64_t start, int64_t count) const;
};

class FluxTransformer {
 public:
  FluxTransformer(FluxConfig config, FluxWeights weights)
      : config_(std::move(config)), weights_(std::move(weights)) {}
  static FluxTransformer Load(const Checkpoint& checkpoint, const RopeOverrides& overrides = {});

  const FluxConfig& config() const { return config_; }
  const FluxWeights& weights() const { return weights_; }
  // For changing how the weights are held (fp8 storage) before any request runs.
  FluxWeights& mutable_weights() { return weights_; }

  // vec = time_in(emb(t)) [+ guidance_in(emb(g))] + vector_in(y), in `compute` dtype.
  torch::Tensor ComputeVec(const torch::Tensor& timesteps, const torch::Tensor& y,
                           const torch::Tensor& guidance, WeightProvider& provider,
                           torch::ScalarType compute) const;
  FluxModulation ComputeModulation(const torch::Tensor& vec, WeightProvider& provider) const;

  // The prediction [B, L, out_channels] in `compute` dtype.
  torch::Tensor Forward(const FluxInputs& inputs, WeightProvider& provider,
                        torch::ScalarType compute, const AttentionOptions& attention = {}) const;
  // Forward with modulation computed beforehand (timesteps/y/guidance of `inputs` are unused).
  torch::Tensor ForwardWithModulation(const FluxInputs& inputs, const FluxModulation& modulation,
                                      WeightProvider& provider, torch::ScalarType compute,
                                      const AttentionOptions& attention = {}) const;

 private:
  FluxConfig config_;
  FluxWeights weights_;
};

}  // namespace streamdit::engine
