#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scheduler/memory_estimator.h"

namespace streamdit::scheduler {

// A model as the simulation knows it: memory in bytes and compute in seconds. Working memory is
// linear in pixels and images, which is what chunked attention gives the real engine.
struct ModelProfile {
  std::string name;
  std::int64_t weight_bytes = 0;
  std::int64_t fixed_working_bytes = 0;           // streaming window, buffers, text embeddings
  std::int64_t working_bytes_per_megapixel = 0;   // activations per image per megapixel
  std::int64_t lora_bytes = 0;                    // per adapter
  double compute_seconds_per_megapixel_step = 0;  // per image, at the device's full speed
};

// The estimator used by simulations and tests (and usable by the server before the engine's own
// planner is wired in). Unknown models are NOT_FOUND. A LoRA named n is the adapter key "model/n".
// Every byte count of a profile must be >= 0 (std::invalid_argument otherwise).
class LinearMemoryEstimator final : public MemoryEstimator {
 public:
  explicit LinearMemoryEstimator(std::vector<ModelProfile> models);
  absl::StatusOr<MemoryDemand> Estimate(const JobShape& shape) const override;
  const ModelProfile* Find(const std::string& model) const;
  const std::vector<ModelProfile>& models() const { return models_; }

 private:
  std::vector<ModelProfile> models_;
};

double Megapixels(const JobShape& shape);

}  // namespace streamdit::scheduler
