#include "scheduler/linear_memory_estimator.h"

#include <cmath>
#include <utility>

namespace streamdit::scheduler {

double Megapixels(const JobShape& shape) {
  return static_cast<double>(shape.width) * static_cast<double>(shape.height) / 1e6;
}

LinearMemoryEstimator::LinearMemoryEstimator(std::vector<ModelProfile> models)
    : models_(std::move(models)) {}

const ModelProfile* LinearMemoryEstimator::Find(const std::string& model) const {
  for (const ModelProfile& profile : models_) {
    if (profile.name == model) return &profile;
  }
  return nullptr;
}

Status LinearMemoryEstimator::Estimate(const JobShape& shape, MemoryDemand* demand) const {
  const ModelProfile* profile = Find(shape.model);
  if (profile == nullptr)
    return Status(ErrorCode::kNotFound, "model: unknown '" + shape.model + "'");
  double activations = static_cast<double>(profile->working_bytes_per_megapixel) *
                       Megapixels(shape) * static_cast<double>(shape.batch);
  demand->weight_bytes = profile->weight_bytes;
  demand->working_bytes = profile->fixed_working_bytes +
                          static_cast<std::uint64_t>(std::ceil(activations)) +
                          profile->lora_bytes * shape.loras.size();
  return Status::Ok();
}

}  // namespace streamdit::scheduler
