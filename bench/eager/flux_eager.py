#!/usr/bin/env python3
"""The FLUX transformer in eager PyTorch, for bench_eager's side-by-side comparison.

Written from the architecture (flux-spec.md, Black Forest Labs' module layout): the same forward
pass as BFL's `Flux` model, run in plain eager PyTorch 2.x with attention through
`F.scaled_dot_product_attention`, as BFL's and diffusers' FLUX code call it (on the CPU, PyTorch
picks its flash-attention kernel for f32). The weights are read from the safetensors file bench_eager wrote (bf16), converted to
f32 once at load; the inputs and the expected output come from the same file.

Protocol on stdin/stdout, one line each, so that bench_eager can interleave its own runs with
these in one process tree:
  run          -> one forward; prints {"wall": s, "user": s, "sys": s, "max_rel_diff": x}
  quit         -> exits
The thread count is the process's (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS and --threads).
"""

import argparse
import json
import math
import mmap
import resource
import struct
import sys
import time

import torch
import torch.nn.functional as F

DTYPES = {"BF16": torch.bfloat16, "F32": torch.float32}


def load_safetensors(path):
    """Every tensor of a safetensors file (the header is JSON after an 8-byte length)."""
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        count = (end - start) // torch.tensor([], dtype=dtype).element_size()
        flat = torch.frombuffer(data, dtype=dtype, count=count, offset=base + start)
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def timestep_embedding(t, dim=256, max_period=10000, time_factor=1000.0):
    t = time_factor * t
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(0, half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def rope(pos, dim, theta):
    scale = torch.arange(0, dim, 2, dtype=torch.float64) / dim
    omega = 1.0 / (theta**scale)
    out = torch.einsum("...n,d->...nd", pos.double(), omega)
    out = torch.stack([torch.cos(out), -torch.sin(out), torch.sin(out), torch.cos(out)], dim=-1)
    return out.reshape(*out.shape[:-1], 2, 2).float()


def apply_rope(x, freqs):
    x_ = x.float().reshape(*x.shape[:-1], -1, 1, 2)
    out = freqs[..., 0] * x_[..., 0] + freqs[..., 1] * x_[..., 1]
    return out.reshape(*x.shape).type_as(x)


def rms_norm(x, scale):
    rrms = torch.rsqrt(torch.mean(x.float() ** 2, dim=-1, keepdim=True) + 1e-6)
    return (x.float() * rrms).to(x.dtype) * scale


def layer_norm(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class FluxEager:
    def __init__(self, w, heads, axes_dim, theta):
        self.w = w
        self.heads = heads
        self.axes_dim = axes_dim
        self.theta = theta
        self.depth = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("double_blocks."))
        self.single = 1 + max(int(k.split(".")[1]) for k in w if k.startswith("single_blocks."))

    def linear(self, name, x):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def mlp_embedder(self, name, x):
        return self.linear(name + ".out_layer", F.silu(self.linear(name + ".in_layer", x)))

    def modulation(self, name, vec, chunks):
        return self.linear(name, F.silu(vec))[:, None, :].chunk(chunks, dim=-1)

    def qkv(self, name, norm, x):
        b, l, _ = x.shape
        q, k, v = self.linear(name, x).reshape(b, l, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q = rms_norm(q, self.w[norm + ".query_norm.scale"]).to(v)
        k = rms_norm(k, self.w[norm + ".key_norm.scale"]).to(v)
        return q, k, v

    def attention(self, q, k, v, pe):
        q, k = apply_rope(q, pe), apply_rope(k, pe)
        x = F.scaled_dot_product_attention(q, k, v)
        b, h, l, d = x.shape
        return x.permute(0, 2, 1, 3).reshape(b, l, h * d)

    def double_block(self, i, img, txt, vec, pe):
        p = f"double_blocks.{i}."
        i_sh1, i_sc1, i_g1, i_sh2, i_sc2, i_g2 = self.modulation(p + "img_mod.lin", vec, 6)
        t_sh1, t_sc1, t_g1, t_sh2, t_sc2, t_g2 = self.modulation(p + "txt_mod.lin", vec, 6)
        img_q, img_k, img_v = self.qkv(
            p + "img_attn.qkv", p + "img_attn.norm", (1 + i_sc1) * layer_norm(img) + i_sh1
        )
        txt_q, txt_k, txt_v = self.qkv(
            p + "txt_attn.qkv", p + "txt_attn.norm", (1 + t_sc1) * layer_norm(txt) + t_sh1
        )
        attn = self.attention(
            torch.cat((txt_q, img_q), 2), torch.cat((txt_k, img_k), 2),
            torch.cat((txt_v, img_v), 2), pe)
        txt_attn, img_attn = attn[:, : txt.shape[1]], attn[:, txt.shape[1] :]
        img = img + i_g1 * self.linear(p + "img_attn.proj", img_attn)
        img_mlp = gelu_tanh(self.linear(p + "img_mlp.0", (1 + i_sc2) * layer_norm(img) + i_sh2))
        img = img + i_g2 * self.linear(p + "img_mlp.2", img_mlp)
        txt = txt + t_g1 * self.linear(p + "txt_attn.proj", txt_attn)
        txt_mlp = gelu_tanh(self.linear(p + "txt_mlp.0", (1 + t_sc2) * layer_norm(txt) + t_sh2))
        txt = txt + t_g2 * self.linear(p + "txt_mlp.2", txt_mlp)
        return img, txt

    def single_block(self, i, x, vec, pe):
        p = f"single_blocks.{i}."
        shift, scale, gate = self.modulation(p + "modulation.lin", vec, 3)
        h = self.linear(p + "linear1", (1 + scale) * layer_norm(x) + shift)
        hidden = x.shape[-1]
        qkv, mlp = torch.split(h, [3 * hidden, h.shape[-1] - 3 * hidden], dim=-1)
        b, l, _ = qkv.shape
        q, k, v = qkv.reshape(b, l, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q = rms_norm(q, self.w[p + "norm.query_norm.scale"]).to(v)
        k = rms_norm(k, self.w[p + "norm.key_norm.scale"]).to(v)
        attn = self.attention(q, k, v, pe)
        return x + gate * self.linear(p + "linear2", torch.cat((attn, gelu_tanh(mlp)), 2))

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y, guidance):
        img = self.linear("img_in", img)
        vec = self.mlp_embedder("time_in", timestep_embedding(timesteps))
        if "guidance_in.in_layer.weight" in self.w:
            vec = vec + self.mlp_embedder("guidance_in", timestep_embedding(guidance))
        vec = vec + self.mlp_embedder("vector_in", y)
        txt = self.linear("txt_in", txt)
        ids = torch.cat((txt_ids, img_ids), dim=1)
        pe = torch.cat(
            [rope(ids[..., i], d, self.theta) for i, d in enumerate(self.axes_dim)], dim=-3
        ).unsqueeze(1)
        for i in range(self.depth):
            img, txt = self.double_block(i, img, txt, vec, pe)
        x = torch.cat((txt, img), 1)
        for i in range(self.single):
            x = self.single_block(i, x, vec, pe)
        x = x[:, txt.shape[1] :, ...]
        shift, scale = self.linear("final_layer.adaLN_modulation.1", F.silu(vec)).chunk(2, dim=1)
        x = (1 + scale[:, None, :]) * layer_norm(x) + shift[:, None, :]
        return self.linear("final_layer.linear", x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--heads", type=int, default=24)
    parser.add_argument("--axes-dim", default="16,56,56")
    parser.add_argument("--theta", type=float, default=10000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)

    weights = {k: v.float() for k, v in load_safetensors(args.weights).items()}  # once, at load
    model = FluxEager(weights, args.heads, [int(d) for d in args.axes_dim.split(",")], args.theta)
    inputs = {k: v.clone() for k, v in load_safetensors(args.inputs).items()}
    expected = inputs.pop("expected")
    print(json.dumps({"ready": True}), flush=True)

    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        if command != "run":
            print(json.dumps({"error": "unknown command " + command}), flush=True)
            continue
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        out = model.forward(**inputs)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        diff = ((out - expected).abs().max() / expected.abs().max()).item()
        print(json.dumps({"wall": wall, "user": after.ru_utime - before.ru_utime,
                          "sys": after.ru_stime - before.ru_stime, "max_rel_diff": diff}),
              flush=True)


if __name__ == "__main__":
    main()
