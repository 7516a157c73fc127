#pragma once

#include <cstdint>

namespace streamdit::engine {

// Sampling defaults of the two FLUX.1 text-to-image variants (flux-spec §3 "Defaults"). The
// server applies them to fields a request leaves unset.
struct FluxSamplingDefaults {
  int num_steps;
  // Distilled guidance fed to guidance_in; only meaningful when has_guidance.
  double guidance;
  bool has_guidance;
  // Resolution-dependent time shift of the schedule (FluxSchedule's `shift`): mu runs linearly
  // from base_shift at base_image_seq_len image tokens to max_shift at max_image_seq_len.
  bool shift;
  double base_shift;
  double max_shift;
  int64_t base_image_seq_len;
  int64_t max_image_seq_len;
  // T5 prompt length in tokens (pad/truncate to this).
  int t5_max_length;
  int width;
  int height;
};

// FLUX.1-dev. Where sources disagree:
// - steps 50: BFL cli, sd-scripts and the diffusers model docs all use 50; only the diffusers
//   pipeline's signature default is 28 (a speed trade-off). Requests can ask for fewer.
// - guidance 3.5: the value dev was released with (BFL cli at release), and still the default of
//   diffusers, sd-scripts and ComfyUI. BFL lowered its cli default to 2.5 with the Kontext
//   release (2025-06), a later taste change not adopted elsewhere; 3.5 keeps our images
//   comparable with what most users and reference images produce.
// - T5 512 tokens: BFL dev, diffusers and sd-scripts agree.
// - size 1024×1024: the diffusers default (BFL's cli uses 1360×768); square is the common case.
constexpr FluxSamplingDefaults FluxDevDefaults() {
  return FluxSamplingDefaults{/*num_steps=*/50,
                              /*guidance=*/3.5,
                              /*has_guidance=*/true,
                              /*shift=*/true,
                              /*base_shift=*/0.5,
                              /*max_shift=*/1.15,
                              /*base_image_seq_len=*/256,
                              /*max_image_seq_len=*/4096,
                              /*t5_max_length=*/512,
                              /*width=*/1024,
                              /*height=*/1024};
}

// FLUX.1-schnell (timestep-distilled): 4 steps, no time shift (BFL cli passes shift=false for
// schnell; ComfyUI's shift 1.0 is the same thing), no guidance input (the checkpoint has no
// guidance_in weights), T5 256 tokens (BFL cli; diffusers docs say schnell supports ≤ 256).
constexpr FluxSamplingDefaults FluxSchnellDefaults() {
  return FluxSamplingDefaults{/*num_steps=*/4,
                              /*guidance=*/0.0,
                              /*has_guidance=*/false,
                              /*shift=*/false,
                              /*base_shift=*/0.5,
                              /*max_shift=*/1.15,
                              /*base_image_seq_len=*/256,
                              /*max_image_seq_len=*/4096,
                              /*t5_max_length=*/256,
                              /*width=*/1024,
                              /*height=*/1024};
}

}  // namespace streamdit::engine
