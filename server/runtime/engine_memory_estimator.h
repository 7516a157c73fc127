// The scheduler's MemoryEstimator backed by the engine's job memory plans: a job's minimum is the
// least budget its plan can run with (every weight streamed), its useful maximum the budget at
// which every weight is resident. Plans are computed from tensor headers (no weights touched) and
// cached per memory key, because the scheduler calls Estimate under its lock.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "scheduler/memory_estimator.h"
#include "server/runtime/model_registry.h"

namespace streamdit::server {

class EngineMemoryEstimator final : public scheduler::MemoryEstimator {
 public:
  explicit EngineMemoryEstimator(const ModelRegistry& models) : models_(models) {}

  // NOT_FOUND for an unknown model; INVALID_ARGUMENT for a shape the model cannot run.
  absl::StatusOr<scheduler::MemoryDemand> Estimate(const scheduler::JobShape& shape) const override;

 private:
  const ModelRegistry& models_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, scheduler::MemoryDemand> cache_;
};

}  // namespace streamdit::server
