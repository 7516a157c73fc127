// Where a FLUX model set's files are, and how the pipeline built from them runs. A model folder is
// recognised by the real files' names, flat (as ComfyUI users keep them: flux1-dev.safetensors or
// city96's flux1-dev-Q4_K_S.gguf, ae.safetensors, t5xxl_fp16.safetensors, clip_l.safetensors plus
// the tokenizer files) or in the diffusers layout (transformer/, vae/, text_encoder/,
// text_encoder_2/, tokenizer/, tokenizer_2/, scheduler/, model_index.json) as the hub's FLUX.1
// repositories hold it and as diffusers' save_pretrained writes it (engine/pipeline/
// diffusers_folder.h: shards from each .index.json, the configuration files' settings).
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

#include "engine/pipeline/model_folder_settings.h"
#include "engine/pipeline/resident_format.h"
#include "engine/sampling/flux_defaults.h"
#include "engine/streaming/host_storage.h"

namespace streamdit::engine {

struct ModelPaths {
  std::vector<std::string> transformer;  // one file, or diffusers shards
  std::vector<std::string> ae;
  std::vector<std::string> t5;
  std::vector<std::string> clip;
  // spiece.model, or a tokenizers tokenizer.json holding the same Unigram model (what
  // transformers 5 saves: engine/text/tokenizer_json.h).
  std::string t5_tokenizer;
  // vocab.json and merges.txt; or tokenizer.json (its BPE model holds both) with clip_merges
  // empty.
  std::string clip_vocab;
  std::string clip_merges;
  // What the folder's configuration files say (a diffusers folder's); empty otherwise.
  ModelFolderSettings settings;
};

enum class FluxFamily { kDev, kSchnell };

const char* FluxFamilyName(FluxFamily family);
// "dev" or "schnell"; throws StatusError INVALID_ARGUMENT naming `family`
// otherwise.
FluxFamily ParseFluxFamily(const std::string& name);
FluxSamplingDefaults FamilyDefaults(FluxFamily family);

struct PipelineConfig {
  ModelPaths paths;
  std::string model_name = "flux";  // recorded in the PNG parameters
  // nullopt: dev when the transformer has guidance_in, else schnell.
  std::optional<FluxFamily> family;
  // Overrides of the family's sampling defaults (e.g. a demo model that defaults to 4 steps).
  std::optional<int> default_steps;
  std::optional<int> default_width;
  std::optional<int> default_height;
  std::optional<int> t5_max_length;  // nullopt: the family's (512 dev, 256 schnell)
  torch::ScalarType compute_dtype = torch::kFloat;
  // Images with more latent pixels than one tile on either side decode tiled (bounded peak).
  bool tiled_decode = true;
  int64_t vae_tile_latent = 64;
  int64_t vae_overlap_latent = 8;
  // How the transformer's weights are held in host RAM: as stored, or its matmul weights as fp8
  // e4m3 with per-tensor scales (half the host bytes and half the bytes streamed; converted once
  // at load). engine/streaming/host_storage.h.
  WeightStorage weight_storage = WeightStorage::kAsStored;
  // How a resident copy (kLoad/kShared) holds the matmul weights whose stored format is not the
  // compute dtype: as stored, decoded at each use, or decoded once at load.
  ResidentFormat resident_format = ResidentFormat::kStored;
  // Page-lock the transformer's host tier at load (engine/streaming/pinned_host_tier.h), so that
  // streaming it to a CUDA device overlaps its copies with compute: set when the model serves CUDA
  // devices. Host memory, outside every device's budget (FluxPipeline::pinned_host_bytes).
  bool pin_host_tier = false;
  // Prompt-embedding cache capacity; 0 disables the cache.
  int64_t prompt_cache_bytes = 64ll << 20;
};

// Finds a model set's files in `directory`, and in a diffusers folder reads its configuration
// (model_index.json, each component's .index.json, scheduler/scheduler_config.json,
// transformer/config.json, vae/config.json). Throws CheckpointError (kIo) naming the file that was
// looked for (and the folder) when a component is missing, and CheckpointError naming the file and
// the field when a configuration file is malformed or asks for what the engine cannot run.
ModelPaths FindModelFiles(const std::string& directory);

}  // namespace streamdit::engine
