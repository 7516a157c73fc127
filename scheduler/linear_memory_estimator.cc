#include "scheduler/linear_memory_estimator.h"

#include <cmath>
#include <stdexcept>
#include <utility>

namespace streamdit::scheduler {

double Megapixels(const JobShape& shape) {
  return static_cast<double>(shape.width) * static_cast<double>(shape.height) / 1e6;
}

LinearMemoryEstimator::LinearMemoryEstimator(std::vector<ModelProfile> models)
    : models_(std::move(models)) {
  for (const ModelProfile& profile : models_) {
    if (profile.weight_bytes < 0 || profile.fixed_working_bytes < 0 ||
        profile.working_bytes_per_megapixel < 0 || profile.lora_bytes < 0) {
      throw std::invalid_argument("model profile " + profile.name + ": byte counts must be >= 0");
    }
  }
}

const ModelProfile* LinearMemoryEstimator::Find(const std::string& model) const {
  for (const ModelProfile& profile : models_) {
    if (profile.name == model) return &profile;
  }
  return nullptr;
}

absl::StatusOr<MemoryDemand> LinearMemoryEstimator::Estimate(const JobShape& shape) const {
  const ModelProfile* profile = Find(shape.model);
  if (profile == nullptr) return absl::NotFoundError("model: unknown '" + shape.model + "'");
  double activations = static_cast<double>(profile->working_bytes_per_megapixel) *
                       Megapixels(shape) * static_cast<double>(shape.batch);
  MemoryDemand demand;
  demand.weight_bytes = profile->weight_bytes;
  demand.working_bytes =
      profile->fixed_working_bytes + static_cast<std::int64_t>(std::ceil(activations));
  for (const std::string& name : shape.loras) {
    // An adapter's tensors on a device belong to one model: "a" of two models is two entries.
    const std::string key = shape.model + "/" + name;
    bool listed = false;
    for (const AdapterDemand& adapter : demand.adapters) listed = listed || adapter.key == key;
    if (!listed) demand.adapters.push_back({key, profile->lora_bytes});
  }
  return demand;
}

}  // namespace streamdit::scheduler
