#!/usr/bin/python3
"""Independent float64 NumPy reference for the FLUX transformer and its Euler sampler.

Written from flux-spec.md §1-§3 (the BFL forward pass), never from our C++ output. Stored weights
are decoded (safetensors_io.py) from their raw bytes, so that the reference sees exactly the
quantized values the engine holds; everything after decoding is float64.

  flux_reference.py forward MODEL INPUTS OUT
      INPUTS: img, img_ids, txt, txt_ids, timesteps, y[, guidance]; OUT: F64 "pred"
  flux_reference.py euler MODEL INPUTS STEPS SHIFT OUT
      INPUTS as above without timesteps, img = the initial noise (packed); runs the FLUX schedule
      (time shift when SHIFT is 1) and the Euler loop; OUT: F64 "latent"
"""
import json
import math
import sys

import numpy as np

import safetensors_io


def linear(w, name, x):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-6)


def rms_norm(x, scale):
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6) * scale


def timestep_embedding(t, dim=256, max_period=10000.0):
    t = 1000.0 * t
    half = dim // 2
    freqs = np.exp(-math.log(max_period) * np.arange(half, dtype=np.float64) / half)
    args = t[:, None] * freqs[None]
    return np.concatenate([np.cos(args), np.sin(args)], -1)


def rope_angles(ids, axes_dim, theta):
    parts = []
    for axis, d in enumerate(axes_dim):
        omega = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
        parts.append(ids[..., axis:axis + 1] * omega)
    return np.concatenate(parts, -1)[:, None]  # [B, 1, L, D/2]


def apply_rope(x, angles):
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = np.cos(angles), np.sin(angles)
    out = np.empty_like(x)
    out[..., 0::2] = c * x0 - s * x1
    out[..., 1::2] = s * x0 + c * x1
    return out


def attention(q, k, v, angles):
    q, k = apply_rope(q, angles), apply_rope(k, angles)
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    scores -= scores.max(-1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(-1, keepdims=True)
    o = p @ v  # [B, H, L, D]
    return np.transpose(o, (0, 2, 1, 3)).reshape(o.shape[0], o.shape[2], -1)


def heads(qkv, n):
    b, l, _ = qkv.shape
    x = qkv.reshape(b, l, 3, n, -1).transpose(2, 0, 3, 1, 4)
    return x[0], x[1], x[2]


class Flux:
    def __init__(self, path):
        self.w, meta = safetensors_io.read(path)
        w = self.w
        self.hidden = w["img_in.weight"].shape[0]
        self.depth = sum(1 for k in w if k.startswith("double_blocks.") and k.endswith("img_attn.proj.weight"))
        self.single = sum(1 for k in w if k.startswith("single_blocks.") and k.endswith("linear2.weight"))
        norm = "double_blocks.0.img_attn.norm.query_norm.scale" if self.depth else "single_blocks.0.norm.query_norm.scale"
        self.head_dim = w[norm].shape[0]
        self.heads = self.hidden // self.head_dim
        self.guidance = "guidance_in.in_layer.weight" in w
        if "flux_config" in meta:
            cfg = json.loads(meta["flux_config"])
            self.axes_dim, self.theta = cfg["axes_dim"], float(cfg["theta"])
        else:
            self.axes_dim, self.theta = [16, 56, 56], 10000.0

    def mlp_embed(self, name, x):
        return linear(self.w, name + ".out_layer", silu(linear(self.w, name + ".in_layer", x)))

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y, guidance):
        w, H = self.w, self.hidden
        img = linear(w, "img_in", img)
        vec = self.mlp_embed("time_in", timestep_embedding(timesteps))
        if self.guidance:
            vec = vec + self.mlp_embed("guidance_in", timestep_embedding(guidance))
        vec = vec + self.mlp_embed("vector_in", y)
        txt = linear(w, "txt_in", txt)
        angles = rope_angles(np.concatenate([txt_ids, img_ids], 1), self.axes_dim, self.theta)
        Lt = txt.shape[1]
        act = silu(vec)

        def mod(name, n):
            m = linear(w, name, act)[:, None, :]
            return [m[..., i * H:(i + 1) * H] for i in range(n)]

        for i in range(self.depth):
            p = "double_blocks.%d." % i
            im, tm = mod(p + "img_mod.lin", 6), mod(p + "txt_mod.lin", 6)
            qkv = {}
            for s, x, m in (("img", img, im), ("txt", txt, tm)):
                q, k, v = heads(linear(w, p + s + "_attn.qkv", (1 + m[1]) * layer_norm(x) + m[0]), self.heads)
                qkv[s] = (rms_norm(q, w[p + s + "_attn.norm.query_norm.scale"]),
                          rms_norm(k, w[p + s + "_attn.norm.key_norm.scale"]), v)
            q, k, v = (np.concatenate([qkv["txt"][j], qkv["img"][j]], 2) for j in range(3))
            a = attention(q, k, v, angles)
            out = {}
            for s, x, m, sa in (("img", img, im, a[:, Lt:]), ("txt", txt, tm, a[:, :Lt])):
                x = x + m[2] * linear(w, p + s + "_attn.proj", sa)
                h = (1 + m[4]) * layer_norm(x) + m[3]
                out[s] = x + m[5] * linear(w, p + s + "_mlp.2", gelu_tanh(linear(w, p + s + "_mlp.0", h)))
            img, txt = out["img"], out["txt"]

        x = np.concatenate([txt, img], 1)
        for i in range(self.single):
            p = "single_blocks.%d." % i
            m = mod(p + "modulation.lin", 3)
            h = linear(w, p + "linear1", (1 + m[1]) * layer_norm(x) + m[0])
            q, k, v = heads(h[..., :3 * H], self.heads)
            q = rms_norm(q, w[p + "norm.query_norm.scale"])
            k = rms_norm(k, w[p + "norm.key_norm.scale"])
            a = attention(q, k, v, angles)
            x = x + m[2] * linear(w, p + "linear2", np.concatenate([a, gelu_tanh(h[..., 3 * H:])], -1))
        img = x[:, Lt:]
        shift, scale = mod("final_layer.adaLN_modulation.1", 2)
        return linear(w, "final_layer.linear", (1 + scale) * layer_norm(img) + shift)


def schedule(steps, seq_len, shift):
    ts = np.linspace(1.0, 0.0, steps + 1)
    if shift:
        m = (1.15 - 0.5) / (4096 - 256)
        mu = m * seq_len + (0.5 - 256 * m)
        with np.errstate(divide="ignore"):
            ts = np.where((ts > 0) & (ts < 1), math.exp(mu) / (math.exp(mu) + (1.0 / np.where(ts > 0, ts, 1) - 1.0)), ts)
    return ts


def main():
    mode = sys.argv[1]
    model = Flux(sys.argv[2])
    t, _ = safetensors_io.read(sys.argv[3])
    g = t.get("guidance")
    if mode == "forward":
        pred = model.forward(t["img"], t["img_ids"], t["txt"], t["txt_ids"], t["timesteps"], t["y"], g)
        safetensors_io.write_f64(sys.argv[4], {"pred": pred})
    elif mode == "euler":
        steps, shift = int(sys.argv[4]), sys.argv[5] == "1"
        img = t["img"]
        ts = schedule(steps, img.shape[1], shift)
        for t_curr, t_prev in zip(ts[:-1], ts[1:]):
            tv = np.full(img.shape[0], t_curr)
            pred = model.forward(img, t["img_ids"], t["txt"], t["txt_ids"], tv, t["y"], g)
            img = img + (t_prev - t_curr) * pred
        safetensors_io.write_f64(sys.argv[6], {"latent": img})
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
