// A model's weights materialized once on its device in the compute dtype and kept there across
// jobs: what the scheduler's kLoad launch loads and its kShared launches use. Every job of the
// model on that device reads the same tensors (none is copied or converted per job, and none is
// ever written), so any number of jobs may share one copy at once.
//
// The bytes are allocated by Load's calling thread and so charged to that thread's device
// (engine/memory/device_charge.h); they are released against that device when the last holder
// drops the copy, from whichever thread.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "engine/device/execution_target.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

class FluxPipeline;

class ResidentWeights {
 public:
  // Materializes every block of every component of the pipeline (T5, CLIP, transformer, VAE) in
  // its compute dtype on `target`'s device; jobs then run there on them (GenerateBatch with the
  // same target). An allocation beyond the device's limit throws the allocator's
  // c10::OutOfMemoryError (StatusFromException: RESOURCE_EXHAUSTED); what was allocated by then
  // is freed.
  static std::shared_ptr<const ResidentWeights> Load(const FluxPipeline& pipeline,
                                                     const ExecutionTarget& target);
  // The bytes Load allocates for the pipeline on `device`: every weight in the compute dtype,
  // each tensor with what the device's allocator adds to it.
  static int64_t BytesOf(const FluxPipeline& pipeline, torch::Device device);

  torch::Device device() const { return device_; }

  int64_t bytes() const { return bytes_; }
  // A provider that hands out these tensors (no copy, no conversion). Throws StatusError INTERNAL
  // for a block that is not part of the model these weights were loaded from.
  std::unique_ptr<WeightProvider> Provider() const;

 private:
  explicit ResidentWeights(torch::Device device) : device_(device) {}
  torch::Device device_;
  std::unordered_map<const WeightBlock*, BlockTensors> blocks_;
  int64_t bytes_ = 0;
};

}  // namespace streamdit::engine
