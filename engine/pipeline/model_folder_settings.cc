#include "engine/pipeline/model_folder_settings.h"

#include "engine/flux/flux_config.h"
#include "engine/sampling/flux_defaults.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {
namespace {

// diffusers' FluxPosEmbed is built with theta=10000 whatever the config says (it has no field).
constexpr double kDiffusersRopeTheta = 10000;

template <typename T, typename U>
void Set(const std::optional<T>& value, U& target) {
  if (value) target = *value;
}

}  // namespace

void ApplyFolderSettings(const ModelFolderSettings& settings, FluxSamplingDefaults& defaults) {
  Set(settings.shift, defaults.shift);
  Set(settings.base_shift, defaults.base_shift);
  Set(settings.max_shift, defaults.max_shift);
  Set(settings.base_image_seq_len, defaults.base_image_seq_len);
  Set(settings.max_image_seq_len, defaults.max_image_seq_len);
}

void ApplyFolderSettings(const ModelFolderSettings& settings, RopeOverrides& rope) {
  if (!settings.rope_axes) return;
  rope.axes_dim = *settings.rope_axes;
  rope.theta = kDiffusersRopeTheta;
}

void ApplyFolderSettings(const ModelFolderSettings& settings, VaeDecoderOptions& vae) {
  Set(settings.vae_scaling_factor, vae.latent_scaling.scale);
  Set(settings.vae_shift_factor, vae.latent_scaling.shift);
  if (settings.vae_norm_groups) vae.norm_groups = *settings.vae_norm_groups;
}

}  // namespace streamdit::engine
