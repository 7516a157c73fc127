// A model's weights copied once onto its device and kept there across jobs: what the scheduler's
// kLoad launch loads and its kShared launches use. The matmul weights whose stored format is not
// the compute dtype are held as stored or decoded at load, as the pipeline's
// PipelineConfig::resident_format says (engine/pipeline/resident_format.h); every other tensor is
// held in the compute dtype. Every job of the model on that device reads the same tensors (none
// is copied per job, none is ever written; a stored one is decoded into the job's own tensor at
// each use), so any number of jobs may share one copy at once.
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
#include "engine/pipeline/resident_format.h"

namespace streamdit::engine {

class FluxPipeline;
struct JobModels;

class ResidentWeights {
 public:
  // Copies every block of every component of the pipeline (T5, CLIP, transformer, VAE) onto
  // `target`'s device in the pipeline's resident format; jobs then run there on them
  // (GenerateBatch with the same target). An allocation beyond the device's limit throws the
  // allocator's c10::OutOfMemoryError (StatusFromException: RESOURCE_EXHAUSTED); what was
  // allocated by then is freed.
  static std::shared_ptr<const ResidentWeights> Load(const FluxPipeline& pipeline,
                                                     const ExecutionTarget& target);
  // The bytes Load allocates for the pipeline on `device`, each tensor with what the device's
  // allocator adds to it.
  static int64_t BytesOf(const FluxPipeline& pipeline, torch::Device device);
  // The same for any set of models, compute dtype and format (`streamdit plan`, the benchmarks).
  static int64_t BytesOf(const JobModels& models, torch::ScalarType compute, torch::Device device,
                         ResidentFormat format);
  // What a job on a copy in `format` decodes at most at once beside it: the largest weight held
  // stored, decoded into the compute dtype, plus its codec's transient bytes (0 for kCompute, or
  // when every weight is stored in the compute dtype). Job plans count it already (their
  // conversion bytes); ListModels reports it.
  static int64_t DecodeBytesOf(const JobModels& models, torch::ScalarType compute,
                               torch::Device device, ResidentFormat format);

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
