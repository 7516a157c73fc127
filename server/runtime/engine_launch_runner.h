// Runs a launch through the FLUX pipeline of its model: every member's request in one batch (the
// streamed weights are paid once per step for the whole batch), under the launch's byte budget.
// It keeps the resident weights of every (device, model) the scheduler loaded: materialized once in
// the compute dtype, charged to the device, shared by every later launch there until evicted.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/pipeline/resident_weights.h"
#include "server/runtime/launch_runner.h"
#include "server/runtime/model_registry.h"

namespace streamdit::server {

class EngineLaunchRunner final : public LaunchRunner {
 public:
  // Installs the CPU device's counting allocator (engine/memory/cpu_memory_meter.h) when a model
  // runs on the CPU, so that every launch's bytes are metered from the first one on.
  explicit EngineLaunchRunner(const ModelRegistry& models);

  absl::Status PrepareWeights(const scheduler::Launch& launch) override;
  std::vector<ResidentWeightsView> ResidentWeights(int device) const override;

  // kLoad and kShared launches run on the device's resident copy with their budget for their own
  // bytes; kStreamed launches stream under their budget (weights kept included).
  LaunchReport Run(const scheduler::Launch& launch, const std::vector<LaunchMember>& members,
                   const std::atomic<bool>& stop, const LaunchCallbacks& callbacks) override;

 private:
  using ResidentKey = std::pair<int, std::string>;  // device, model
  std::shared_ptr<const engine::ResidentWeights> FindResident(int device,
                                                              const std::string& model) const;

  const ModelRegistry& models_;
  mutable std::mutex mu_;  // resident_ is written by the device workers and read by Status()
  std::map<ResidentKey, std::shared_ptr<const engine::ResidentWeights>> resident_;
};

}  // namespace streamdit::server
