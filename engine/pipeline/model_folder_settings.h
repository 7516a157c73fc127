// What a model folder's configuration files say that its weights cannot. A diffusers folder
// (engine/pipeline/diffusers_folder.h) states its scheduler's time shift, the transformer's RoPE
// axes and the VAE's latent scaling in JSON files; folders of single files state none of it, and
// every unset field keeps the engine's FLUX.1 value (engine/sampling/flux_defaults.h, the
// transformer's flux_config metadata, engine/vae/vae_config.h).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace streamdit::engine {

struct ModelFolderSettings {
  // scheduler/scheduler_config.json: use_dynamic_shifting, base_shift, max_shift,
  // base_image_seq_len, max_image_seq_len (FluxSamplingDefaults' fields of the same meaning).
  std::optional<bool> shift;
  std::optional<double> base_shift;
  std::optional<double> max_shift;
  std::optional<int64_t> base_image_seq_len;
  std::optional<int64_t> max_image_seq_len;
  // transformer/config.json: axes_dims_rope (diffusers fixes RoPE's theta at 10000).
  std::optional<std::vector<int64_t>> rope_axes;
  // vae/config.json: scaling_factor, shift_factor, norm_num_groups.
  std::optional<double> vae_scaling_factor;
  std::optional<double> vae_shift_factor;
  std::optional<int64_t> vae_norm_groups;
};

struct FluxSamplingDefaults;  // engine/sampling/flux_defaults.h
struct RopeOverrides;         // engine/flux/flux_config.h
struct VaeDecoderOptions;     // engine/vae/vae_decoder.h

// Each writes the fields `settings` sets over the target's and leaves the others: the pipeline
// applies them to the family's defaults, the transformer's RoPE and the VAE decoder's options
// before a PipelineConfig's own overrides.
void ApplyFolderSettings(const ModelFolderSettings& settings, FluxSamplingDefaults& defaults);
void ApplyFolderSettings(const ModelFolderSettings& settings, RopeOverrides& rope);
void ApplyFolderSettings(const ModelFolderSettings& settings, VaeDecoderOptions& vae);

}  // namespace streamdit::engine
