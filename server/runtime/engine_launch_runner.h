// Runs a launch through the FLUX pipeline of its model: every member's request in one batch (the
// streamed weights are paid once per step for the whole batch), under the launch's byte budget.
// It keeps the resident weights of every (device, model) the scheduler loaded: materialized once in
// the compute dtype, charged to the device, shared by every later launch there until evicted. It
// keeps each device's LoRA adapter cache the same way (by adapter key, as the scheduler counts it).
// A launch runs only on its own device's worker, so each device's entries change one at a time.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/device/execution_target.h"
#include "engine/lora/device_lora.h"
#include "engine/pipeline/resident_weights.h"
#include "server/runtime/launch_runner.h"
#include "server/runtime/model_registry.h"

namespace streamdit::server {

class EngineLaunchRunner final : public LaunchRunner {
 public:
  // `targets`: where each scheduler device computes (ExecutionTargetsOf the service's devices).
  // Installs the CPU's counting allocator (engine/memory/cpu_memory_meter.h) when a device
  // computes on the CPU, so that every launch's bytes are metered from the first one on.
  EngineLaunchRunner(const ModelRegistry& models, std::vector<engine::ExecutionTarget> targets);

  absl::Status PrepareWeights(const scheduler::Launch& launch) override;
  std::vector<ResidentWeightsView> ResidentWeights(int device) const override;
  std::vector<CachedLoraView> CachedLoras(int device) const override;

  // kLoad and kShared launches run on the device's resident copy with their budget for their own
  // bytes; kStreamed launches stream under their budget (weights kept included).
  LaunchReport Run(const scheduler::Launch& launch, const std::vector<LaunchMember>& members,
                   const std::atomic<bool>& stop, const LaunchCallbacks& callbacks) override;

 private:
  using ResidentKey = std::pair<int, std::string>;  // device, model
  std::shared_ptr<const engine::ResidentWeights> FindResident(int device,
                                                              const std::string& model) const;

  using AdapterKey = std::pair<int, std::string>;  // device, adapter key (LoraLibrary::KeyOf)
  struct CachedLora {
    std::string model;
    std::shared_ptr<const engine::DeviceLora> lora;
  };
  absl::Status PrepareAdapters(const scheduler::Launch& launch);

  // The scheduler's device index's target; INTERNAL for an index the runner was not given.
  absl::StatusOr<engine::ExecutionTarget> TargetOf(int device) const;

  const ModelRegistry& models_;
  const std::vector<engine::ExecutionTarget> targets_;
  // resident_ and adapters_ are written by the device workers and read by Status().
  mutable std::mutex mu_;
  std::map<ResidentKey, std::shared_ptr<const engine::ResidentWeights>> resident_;
  std::map<AdapterKey, CachedLora> adapters_;
};

}  // namespace streamdit::server
