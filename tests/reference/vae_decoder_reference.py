#!/usr/bin/python3
"""Independent float64 NumPy reference of the FLUX VAE decoder (BFL autoencoder.py semantics).

Written from flux-spec.md section 4 and BFL modules/autoencoder.py, not from our C++ code: it
reads a BFL-layout checkpoint ("decoder.*" keys, optionally under a prefix), infers the level
layout from the keys, decodes a latent with z / scale + shift, and writes the image clamped to
[-1, 1] as F64.

usage: vae_decoder_reference.py WEIGHTS LATENT OUT [--prefix P] [--scale S] [--shift S]
                                 [--tile T --overlap O]
  WEIGHTS  safetensors with decoder.* tensors (F32, F16 or BF16); __metadata__ vae_config JSON
           may carry norm_groups (default 32)
  LATENT   safetensors with tensor "latent" [B, z, h, w]
  OUT      safetensors written with tensor "image" [B, out, 8h, 8w] (F64)
  --tile/--overlap  tiled decoding as documented in engine/vae/vae_tiling.h: the fewest evenly
           spread tiles overlapping by >= O latent pixels, each decoded alone, blended with
           linear ramps of O*f pixels on sides that have a neighbour, weights normalised to 1.
"""

import argparse
import json
import sys

import numpy as np

import safetensors_io


# --- decoder layers (one image at a time, arrays [C, H, W], float64) -------------------------

def conv2d(x, weight, bias):
    out_ch, in_ch, kh, kw = weight.shape
    pad_h, pad_w = kh // 2, kw // 2
    padded = np.pad(x, ((0, 0), (pad_h, pad_h), (pad_w, pad_w)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(1, 2))
    # windows: [in, H, W, kh, kw]
    return np.einsum("chwij,ocij->ohw", windows, weight, optimize=True) + bias[:, None, None]


def group_norm(x, groups, weight, bias, eps=1e-6):
    c, h, w = x.shape
    g = x.reshape(groups, -1)
    mean = g.mean(axis=1, keepdims=True)
    var = g.var(axis=1, keepdims=True)
    normed = ((g - mean) / np.sqrt(var + eps)).reshape(c, h, w)
    return normed * weight[:, None, None] + bias[:, None, None]


def swish(x):
    return x / (1.0 + np.exp(-x))


def resnet_block(x, w, p, groups):
    h = swish(group_norm(x, groups, w[p + "norm1.weight"], w[p + "norm1.bias"]))
    h = conv2d(h, w[p + "conv1.weight"], w[p + "conv1.bias"])
    h = swish(group_norm(h, groups, w[p + "norm2.weight"], w[p + "norm2.bias"]))
    h = conv2d(h, w[p + "conv2.weight"], w[p + "conv2.bias"])
    if p + "nin_shortcut.weight" in w:
        x = conv2d(x, w[p + "nin_shortcut.weight"], w[p + "nin_shortcut.bias"])
    return x + h


def attn_block(x, w, p, groups):
    c, hh, ww = x.shape
    h = group_norm(x, groups, w[p + "norm.weight"], w[p + "norm.bias"])
    q = conv2d(h, w[p + "q.weight"], w[p + "q.bias"]).reshape(c, -1).T  # [HW, C]
    k = conv2d(h, w[p + "k.weight"], w[p + "k.bias"]).reshape(c, -1).T
    v = conv2d(h, w[p + "v.weight"], w[p + "v.bias"]).reshape(c, -1).T
    scores = q @ k.T / np.sqrt(c)
    scores -= scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    out = (probs @ v).T.reshape(c, hh, ww)
    return x + conv2d(out, w[p + "proj_out.weight"], w[p + "proj_out.bias"])


def upsample(x, w, p):
    x = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)
    return conv2d(x, w[p + "conv.weight"], w[p + "conv.bias"])


def decode_one(z, w, groups, num_levels, blocks_per_level):
    h = conv2d(z, w["conv_in.weight"], w["conv_in.bias"])
    h = resnet_block(h, w, "mid.block_1.", groups)
    h = attn_block(h, w, "mid.attn_1.", groups)
    h = resnet_block(h, w, "mid.block_2.", groups)
    for level in reversed(range(num_levels)):
        for block in range(blocks_per_level):
            h = resnet_block(h, w, f"up.{level}.block.{block}.", groups)
        if level != 0:
            h = upsample(h, w, f"up.{level}.upsample.")
    h = swish(group_norm(h, groups, w["norm_out.weight"], w["norm_out.bias"]))
    return conv2d(h, w["conv_out.weight"], w["conv_out.bias"])


# --- tiling ---------------------------------------------------------------------------------

def tile_starts(length, tile, overlap):
    if length <= tile:
        return [0]
    stride = tile - overlap
    count = -(-(length - overlap) // stride)
    span = length - tile
    return [(i * span + (count - 1) // 2) // (count - 1) for i in range(count)]


def axis_weights(starts, length, tile, overlap, factor):
    ramp = overlap * factor
    rows = []
    for t, start in enumerate(starts):
        extent = min(tile, length - start) * factor
        w = np.zeros(length * factor)
        p = np.arange(extent) + 0.5
        value = np.ones(extent)
        if ramp > 0 and t > 0:
            value = np.minimum(value, p / ramp)
        if ramp > 0 and t + 1 < len(starts):
            value = np.minimum(value, (extent - p) / ramp)
        w[start * factor:start * factor + extent] = value
        rows.append(w)
    total = np.sum(rows, axis=0)
    return [w / total for w in rows]


def decode_tiled(z, decode, tile, overlap, factor):
    _, height, width = z.shape
    if height <= tile and width <= tile:
        return decode(z)
    rows = tile_starts(height, tile, overlap)
    cols = tile_starts(width, tile, overlap)
    row_w = axis_weights(rows, height, tile, overlap, factor)
    col_w = axis_weights(cols, width, tile, overlap, factor)
    image = None
    for r, y0 in enumerate(rows):
        for c, x0 in enumerate(cols):
            part = decode(z[:, y0:y0 + tile, x0:x0 + tile])
            if image is None:
                image = np.zeros((part.shape[0], height * factor, width * factor))
            th, tw = part.shape[1], part.shape[2]
            wy = row_w[r][y0 * factor:y0 * factor + th]
            wx = col_w[c][x0 * factor:x0 * factor + tw]
            image[:, y0 * factor:y0 * factor + th, x0 * factor:x0 * factor + tw] += (
                part * wy[None, :, None] * wx[None, None, :])
    return image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("latent")
    parser.add_argument("out")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--scale", type=float, default=0.3611)
    parser.add_argument("--shift", type=float, default=0.1159)
    parser.add_argument("--tile", type=int, default=0)
    parser.add_argument("--overlap", type=int, default=0)
    args = parser.parse_args()

    tensors, metadata = safetensors_io.read(args.weights)
    stem = args.prefix + "decoder."
    w = {k[len(stem):]: v for k, v in tensors.items() if k.startswith(stem)}
    # BFL 1x1 attention convs are [C, C, 1, 1]; accept squeezed [C, C] too.
    for name in list(w):
        if name.startswith("mid.attn_1.") and name.endswith(".weight") and w[name].ndim == 2:
            w[name] = w[name][:, :, None, None]
    groups = int(json.loads(metadata.get("vae_config", "{}")).get("norm_groups", 32))
    num_levels = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("up."))
    blocks_per_level = 1 + max(int(k.split(".")[3]) for k in w if k.startswith("up.0.block."))

    latent_tensors, _ = safetensors_io.read(args.latent)
    latent = latent_tensors["latent"]
    def decode(z):
        return decode_one(z, w, groups, num_levels, blocks_per_level)

    images = []
    for z in latent:
        z = z / args.scale + args.shift
        if args.tile > 0:
            image = decode_tiled(z, decode, args.tile, args.overlap, 2 ** (num_levels - 1))
        else:
            image = decode(z)
        images.append(np.clip(image, -1.0, 1.0))
    safetensors_io.write_f64(args.out, {"image": np.stack(images)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
