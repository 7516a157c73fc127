"""A FLUX model folder exactly as diffusers writes it, and diffusers' own FluxPipeline run on it: the
reference the C++ tests hold the engine's loading of diffusers folders against (never the engine's
code: every file here is written by diffusers' and transformers' save_pretrained).

usage:
  diffusers_flux_folder.py write OUT_DIR TOKENIZER_DIR
  diffusers_flux_folder.py generate MODEL_DIR PROMPT SEED WIDTH HEIGHT STEPS GUIDANCE T5_LENGTH
                           OUT.png OUT_IMAGE.safetensors
  diffusers_flux_folder.py schedule MODEL_DIR STEPS IMAGE_SEQ_LEN

write: a FluxPipeline of tiny random components (seeded, float32) saved by
pipeline.save_pretrained(OUT_DIR, max_shard_size=...) so small that the transformer and T5
(text_encoder_2) are split into shards with their .index.json, beside model_index.json,
scheduler/scheduler_config.json (FLUX.1-dev's dynamic shifting settings), the VAE's config.json
(FLUX's 16 latent channels and its scaling/shift factors) and both tokenizers. There is no network
here: the tokenizers are built from local files in TOKENIZER_DIR (the demo model's trained
spiece.model, vocab.json and merges.txt), and every width follows from them and from the engine's
fixed choices (CLIP's head size 64, the VAE's 8x upsampling, 64-feature latent patches). Prints
"<relative path> <bytes>" for every file written.

generate: diffusers' FluxPipeline loaded from MODEL_DIR with from_pretrained (float32, CPU), given
as `latents` the engine's initial noise for SEED, drawn as the engine draws it
(engine/sampling/noise.h, BFL's get_noise):
    torch.randn(1, 16, 2*ceil(H/16), 2*ceil(W/16), dtype=bfloat16,
                generator=torch.Generator("cpu").manual_seed(SEED))
converted to float32 and packed into 2x2 patches as FluxPipeline._pack_latents packs its own.
Writes the PIL image diffusers returns (its rounding: round(255 * clamp(x/2 + 0.5, 0, 1))) as PNG
and the float image before that rounding, [3, H, W] in [0, 1] ("image", F32), as safetensors.

schedule: the sigmas FluxPipeline runs for STEPS steps on IMAGE_SEQ_LEN image tokens with
MODEL_DIR/scheduler (its own steps 5: sigmas linspace(1, 1/STEPS), mu from calculate_shift with the
scheduler config's settings, scheduler.set_timesteps), STEPS + 1 values with the final 0, one line.
"""
import json
import math
import os
import sys

import numpy as np
import torch

import safetensors_io

# Small enough to split the transformer and T5 into several files, as the real ones are.
MAX_SHARD_SIZE = "20KB"

# FLUX.1-dev's scheduler/scheduler_config.json (anchors-wave3 §4.1).
FLUX_DEV_SCHEDULER = dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096,
                          max_shift=1.15, num_train_timesteps=1000, shift=3.0,
                          use_dynamic_shifting=True)


def clip_components(tokenizer_dir):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    # from_pretrained converts vocab.json + merges.txt (the constructor takes only the parsed vocab).
    tokenizer = CLIPTokenizer.from_pretrained(tokenizer_dir, model_max_length=77)
    vocab = len(tokenizer.get_vocab())
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bos = tokenizer.convert_tokens_to_ids("<|startoftext|>")
    # CLIP-L's activation and norm; one head of 64 (the engine's CLIP fixes the head size).
    config = CLIPTextConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128,
                            num_hidden_layers=2, num_attention_heads=1, max_position_embeddings=77,
                            hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=64,
                            bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    torch.manual_seed(1)
    return CLIPTextModel(config), tokenizer


def t5_components(tokenizer_dir):
    from transformers import T5Config, T5EncoderModel, T5TokenizerFast
    # From spiece.model (converted by transformers); no <extra_id_*> tokens, which the demo vocabulary
    # does not have.
    tokenizer = T5TokenizerFast.from_pretrained(tokenizer_dir, extra_ids=0, model_max_length=512)
    rows = (len(tokenizer.get_vocab()) + 127) // 128 * 128  # like T5's 32128 rows
    # T5 v1.1: gated tanh-GELU feed-forward, untied head (unused by the encoder).
    config = T5Config(vocab_size=rows, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=32, relative_attention_max_distance=128,
                      feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
                      tie_word_embeddings=False, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0)
    torch.manual_seed(2)
    return T5EncoderModel(config), tokenizer


def write(out_dir, tokenizer_dir):
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline,
                           FluxTransformer2DModel)
    text_encoder, tokenizer = clip_components(tokenizer_dir)
    text_encoder_2, tokenizer_2 = t5_components(tokenizer_dir)
    torch.manual_seed(3)
    # FLUX.1-dev's structure at small widths: 64-feature patches (16 latent channels x 2 x 2),
    # guidance embedding, RoPE axes summing to the head size (theta is fixed at 10000).
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=2, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=text_encoder_2.config.d_model,
        pooled_projection_dim=text_encoder.config.hidden_size, guidance_embeds=True,
        axes_dims_rope=(4, 6, 6))
    torch.manual_seed(4)
    # FLUX's VAE config (16 latent channels, its scaling and shift factors, no quant convs, four
    # levels: 8x) at a width of 32 per level.
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(32, 32, 32, 32),
        layers_per_block=1, act_fn="silu", latent_channels=16, norm_num_groups=32,
        sample_size=64, scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False,
        use_post_quant_conv=False, mid_block_add_attention=True, force_upcast=True)
    scheduler = FlowMatchEulerDiscreteScheduler(**FLUX_DEV_SCHEDULER)
    pipeline = FluxPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder,
                            tokenizer=tokenizer, text_encoder_2=text_encoder_2,
                            tokenizer_2=tokenizer_2, transformer=transformer)
    pipeline.to(torch.float32)
    pipeline.save_pretrained(out_dir, max_shard_size=MAX_SHARD_SIZE)
    for sub in ("transformer", "text_encoder_2"):
        indexes = [f for f in os.listdir(os.path.join(out_dir, sub)) if f.endswith(".index.json")]
        assert len(indexes) == 1, "%s was not sharded: %s" % (sub, indexes)
    for root, _, files in sorted(os.walk(out_dir)):
        for name in sorted(files):
            path = os.path.join(root, name)
            print(os.path.relpath(path, out_dir), os.path.getsize(path))


def engine_noise(seed, width, height):
    """The engine's initial latent noise (engine/sampling/noise.h), float32, unpacked."""
    generator = torch.Generator("cpu").manual_seed(seed)
    shape = (1, 16, 2 * math.ceil(height / 16), 2 * math.ceil(width / 16))
    return torch.randn(shape, dtype=torch.bfloat16, generator=generator).to(torch.float32)


def generate(model_dir, prompt, seed, width, height, steps, guidance, t5_length, out_png,
             out_image):
    from diffusers import FluxPipeline
    pipeline = FluxPipeline.from_pretrained(model_dir, dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    noise = engine_noise(int(seed), int(width), int(height))
    latents = FluxPipeline._pack_latents(noise, 1, noise.shape[1], noise.shape[2], noise.shape[3])
    common = dict(prompt=prompt, width=int(width), height=int(height),
                  num_inference_steps=int(steps), guidance_scale=float(guidance),
                  max_sequence_length=int(t5_length), latents=latents)
    with torch.no_grad():
        image = pipeline(output_type="np", **common).images[0]  # [H, W, 3] in [0, 1]
    pipeline.numpy_to_pil(image[None])[0].save(out_png)
    chw = np.ascontiguousarray(np.transpose(image, (2, 0, 1)).astype(np.float32))
    safetensors_io.write(out_image, [("image", "F32", chw)], {})


def schedule(model_dir, steps, image_seq_len):
    from diffusers import FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.flux.pipeline_flux import calculate_shift
    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(model_dir, subfolder="scheduler")
    steps, image_seq_len = int(steps), int(image_seq_len)
    config = scheduler.config
    mu = calculate_shift(image_seq_len, config.get("base_image_seq_len", 256),
                         config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                         config.get("max_shift", 1.15))
    scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
    print(" ".join(repr(float(s)) for s in scheduler.sigmas))


if __name__ == "__main__":
    os.environ["HF_HUB_OFFLINE"] = "1"  # every file is local; never ask the hub
    # The C++ tests print this script's stderr on failure: keep it to what went wrong.
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    import diffusers.utils.logging
    import transformers.utils.logging
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "write":
        write(*args)
    elif mode == "generate":
        generate(*args)
    elif mode == "schedule":
        schedule(*args)
    else:
        sys.exit("unknown mode " + mode)
