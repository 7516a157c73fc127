// A FLUX model folder in the diffusers layout, read as diffusers' FluxPipeline.from_pretrained
// reads it (DIF pipeline_utils.py, modeling_utils.py, pipeline_flux.py; anchors-wave3 §4):
//   model_index.json            _class_name FluxPipeline, and each component's [library, class]
//   <component>/<stem>.safetensors.index.json   {"weight_map": {tensor: shard file}}: the shards
//   scheduler/scheduler_config.json            the schedule's time shift
//   transformer/config.json                    axes_dims_rope (RoPE, which the weights cannot tell)
//   vae/config.json                            scaling_factor, shift_factor, norm_num_groups
// Every file is optional where diffusers' defaults make it so; what is there must be well formed
// and ask only for what the engine runs. Errors are CheckpointError with the file as `file()` and
// the JSON field as `tensor()`: kInvalidJson for a file that is not a JSON object, kInvalidEntry
// for a field of the wrong type or value, kUnrecognizedLayout for a pipeline or component class the
// engine cannot run, kIo for a shard the index names that is not there.
#pragma once

#include <string>
#include <vector>

#include "engine/pipeline/model_folder_settings.h"

namespace streamdit::engine {

// Checks `model_index.json`: _class_name must be FluxPipeline and the components the engine loads
// (transformer, vae, text_encoder, text_encoder_2, scheduler) must be of FLUX.1's classes.
void CheckDiffusersModelIndex(const std::string& path);

// The weight files of one component folder for the file stem diffusers gives it
// ("diffusion_pytorch_model" for diffusers models, "model" for transformers ones): the shards its
// `<stem>.safetensors.index.json` names (each once, sorted), else `<stem>.safetensors`, else the
// `<stem>*.safetensors` files (shards copied without their index). Empty when there is none.
std::vector<std::string> DiffusersWeightFiles(const std::string& folder, const std::string& stem);

// The settings stated by scheduler/scheduler_config.json, transformer/config.json and
// vae/config.json under `directory` (each file optional; a missing field takes diffusers'
// default for it). Refuses what would make diffusers' FluxPipeline compute another schedule than
// the engine's: a static shift other than 1 without use_dynamic_shifting, a time_shift_type other
// than "exponential", shift_terminal, Karras / exponential / beta sigmas, inverted sigmas,
// stochastic sampling, num_train_timesteps other than 1000.
ModelFolderSettings ReadDiffusersSettings(const std::string& directory);

}  // namespace streamdit::engine
