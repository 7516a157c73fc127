// Runs a launch through the FLUX pipeline of its model: every member's request in one batch (the
// streamed weights are paid once per step for the whole batch), under the launch's byte budget.
#pragma once

#include "server/runtime/launch_runner.h"
#include "server/runtime/model_registry.h"

namespace streamdit::server {

class EngineLaunchRunner final : public LaunchRunner {
 public:
  // Installs the CPU device's counting allocator (engine/memory/cpu_memory_meter.h) when a model
  // runs on the CPU, so that every launch's bytes are metered from the first one on.
  explicit EngineLaunchRunner(const ModelRegistry& models);

  // The engine's ceiling for a launch: a streamed launch runs under its own budget; a launch
  // whose model the scheduler counts as resident on the device also gets the model's bytes (the
  // weights it may keep resident while it runs).
  static int64_t EngineBudget(const scheduler::Launch& launch);

  LaunchReport Run(const scheduler::Launch& launch, const std::vector<LaunchMember>& members,
                   const std::atomic<bool>& stop,
                   const std::function<void(const LaunchProgress&)>& on_step) override;

 private:
  const ModelRegistry& models_;
};

}  // namespace streamdit::server
