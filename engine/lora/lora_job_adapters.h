// A job's LoRAs made ready for one component: each distinct adapter's tensors taken from the
// device's adapter cache (device_lora.h) or else converted once to the compute dtype on the device
// (charged to the job: they are allocated inside its memory window), and every (module, strength)
// grouped with the samples that use it, so that one batch can mix requests with different LoRA
// sets (low_rank_adapters.h).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/lora/device_lora.h"
#include "engine/lora/lora_adapter.h"
#include "engine/model/low_rank_adapters.h"
#include "engine/pipeline/generation_request.h"

namespace streamdit::engine {

// `sample_loras[i]`: the adapters of the batch's sample i (row i of the token path);
// `on_device`: adapters already on the device (used as they are, nothing converted). Returns null
// when no sample has an adapter that targets `component`.
std::shared_ptr<const ComponentAdapters> BuildComponentAdapters(
    PipelineComponent component, const std::vector<const std::vector<LoraUse>*>& sample_loras,
    torch::ScalarType compute, torch::Device device, const DeviceLoras& on_device = {});

// The device bytes BuildComponentAdapters allocates for these samples (each distinct adapter
// once, none of `on_device`), and the largest rank among the adapters that target the component
// (0: none).
int64_t ComponentAdapterBytes(PipelineComponent component,
                              const std::vector<const std::vector<LoraUse>*>& sample_loras,
                              torch::ScalarType compute, torch::Device device,
                              const std::vector<const LoraAdapter*>& on_device = {});
int64_t ComponentAdapterRank(PipelineComponent component,
                             const std::vector<const std::vector<LoraUse>*>& sample_loras);

// What identifies the text-encoder effect of a request's LoRAs (names, content, strengths), for
// the prompt-embedding cache key; empty when none touches T5 or CLIP.
std::string TextAdapterKey(const std::vector<LoraUse>& loras);

// Applies the component's adapters (when any) on top of `base`.
std::unique_ptr<WeightProvider> WithAdapters(std::unique_ptr<WeightProvider> base,
                                             std::shared_ptr<const ComponentAdapters> adapters);

}  // namespace streamdit::engine
