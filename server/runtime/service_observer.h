// Events out of the GenerationService for metrics (server/metrics/ implements it with
// prometheus-cpp; tests may watch it). Device-level facts the scheduler does not see: what each
// launch measured, each step's time, each request's phases. Called from the device workers and
// the scheduler's dispatcher thread, never under a lock of the service: keep it quick, never
// call back into the service. Every method has an empty default.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "engine/pipeline/weight_provider_factory.h"
#include "scheduler/executor.h"

namespace streamdit::server {

// What a finished launch (one batch on one device) measured and took.
struct LaunchStats {
  std::string device;
  std::string model;
  scheduler::LaunchOutcome outcome = scheduler::LaunchOutcome::kSucceeded;
  int images = 0;               // every image of every member
  int64_t budget_bytes = 0;     // the ceiling it ran under (shared resident weights excluded)
  int64_t predicted_bytes = 0;  // the engine's predicted peak (0: none)
  int64_t peak_bytes = 0;       // measured peak above the device's bytes at its start (0: none)
  int64_t streamed_bytes = 0;   // weight bytes copied into streaming slots
  double stall_seconds = 0;     // time compute waited for streamed blocks
  double denoise_seconds = 0;
};

// A request that ended with a result (timings are its launch's).
struct RequestStats {
  std::string model;
  std::string device;
  int images = 0;
  double queue_seconds = 0;
  double encode_seconds = 0;
  double denoise_seconds = 0;
  double decode_seconds = 0;
  double total_seconds = 0;  // from submit to the result
};

class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;

  // The device's measured bytes now and its high-water mark: at the start and end of every launch,
  // after every denoising step and at every phase change.
  virtual void OnDeviceMemory(const std::string& /*device*/, int64_t /*used_bytes*/,
                              int64_t /*peak_bytes*/) {}
  // Resident weights a device holds for a model now (0 once evicted), measured.
  virtual void OnResidentWeights(const std::string& /*device*/, const std::string& /*model*/,
                                 int64_t /*bytes*/) {}
  virtual void OnStep(const std::string& /*device*/, const std::string& /*model*/,
                      double /*step_seconds*/) {}
  virtual void OnPhase(const std::string& /*device*/, const std::string& /*model*/,
                       engine::PipelinePhase /*phase*/, double /*seconds*/) {}
  virtual void OnLaunchFinished(const LaunchStats& /*launch*/) {}
  // A request waited `queue_seconds` and now runs on `device`.
  virtual void OnRequestStarted(const std::string& /*model*/, const std::string& /*device*/,
                                double /*queue_seconds*/) {}
  virtual void OnRequestSucceeded(const RequestStats& /*request*/) {}
};

}  // namespace streamdit::server
