#!/usr/bin/env python3
"""Where eager PyTorch's FLUX forward spends its time: the profile behind bench_eager's resident goal.

Runs bench/eager/flux_eager.py's model (FLUX.1 widths, 2 double + 2 single blocks, random f32
weights, 512 text tokens) once to warm up, then once under torch.profiler, and prints the share of
CPU time in the matrix products (aten::addmm), in attention (the CPU flash kernel) and in everything
else (copies, elementwise passes, norms), then the top operators. streamdit runs the same libtorch's
sgemm and, since de6b2a5, the same attention kernel: the matmul share bounds the resident ratio that
any amount of fusing could reach.

  .venv/bin/python bench/eager/profile_eager.py [IMAGE_TOKENS=256] [THREADS=1]
"""
import os
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_eager import FluxEager  # noqa: E402

HIDDEN, MLP, HEADS, HEAD_DIM, TXT_TOKENS = 3072, 12288, 24, 128, 512


def random_weights():
    weights = {}

    def linear(name, out_features, in_features):
        weights[name + ".weight"] = torch.randn(out_features, in_features) * 0.02
        weights[name + ".bias"] = torch.zeros(out_features)

    def qk_norm(prefix):
        weights[prefix + ".query_norm.scale"] = torch.ones(HEAD_DIM)
        weights[prefix + ".key_norm.scale"] = torch.ones(HEAD_DIM)

    linear("img_in", HIDDEN, 64)
    linear("txt_in", HIDDEN, 4096)
    for embedder, width in (("time_in", 256), ("guidance_in", 256), ("vector_in", 768)):
        linear(embedder + ".in_layer", HIDDEN, width)
        linear(embedder + ".out_layer", HIDDEN, HIDDEN)
    for block in range(2):
        prefix = f"double_blocks.{block}."
        for stream in ("img", "txt"):
            linear(prefix + stream + "_mod.lin", 6 * HIDDEN, HIDDEN)
            linear(prefix + stream + "_attn.qkv", 3 * HIDDEN, HIDDEN)
            linear(prefix + stream + "_attn.proj", HIDDEN, HIDDEN)
            linear(prefix + stream + "_mlp.0", MLP, HIDDEN)
            linear(prefix + stream + "_mlp.2", HIDDEN, MLP)
            qk_norm(prefix + stream + "_attn.norm")
    for block in range(2):
        prefix = f"single_blocks.{block}."
        linear(prefix + "modulation.lin", 3 * HIDDEN, HIDDEN)
        linear(prefix + "linear1", 3 * HIDDEN + MLP, HIDDEN)
        linear(prefix + "linear2", HIDDEN, HIDDEN + MLP)
        qk_norm(prefix + "norm")
    linear("final_layer.adaLN_modulation.1", 2 * HIDDEN, HIDDEN)
    linear("final_layer.linear", 64, HIDDEN)
    return weights


def inputs(img_tokens):
    side = max(1, int(img_tokens**0.5))
    img_ids = torch.zeros(1, img_tokens, 3)
    img_ids[0, :, 1] = torch.arange(img_tokens) // side
    img_ids[0, :, 2] = torch.arange(img_tokens) % side
    return dict(img=torch.randn(1, img_tokens, 64), img_ids=img_ids,
                txt=torch.randn(1, TXT_TOKENS, 4096), txt_ids=torch.zeros(1, TXT_TOKENS, 3),
                timesteps=torch.tensor([0.5]), y=torch.randn(1, 768), guidance=torch.tensor([3.5]))


def group_of(name):
    if name in ("aten::addmm", "aten::mm", "aten::bmm"):
        return "matmul (addmm/mm/bmm)"
    if "flash" in name or "scaled_dot" in name:
        return "attention (flash)"
    return "copies/elementwise/other"


def main():
    img_tokens = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    torch.set_grad_enabled(False)
    torch.manual_seed(0)
    model = FluxEager(random_weights(), HEADS, [16, 56, 56], 10000)
    args = inputs(img_tokens)
    model.forward(**args)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        model.forward(**args)
        wall = time.perf_counter() - start
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups = {}
    for event in events:
        group = group_of(event.key)
        groups[group] = groups.get(group, 0) + event.self_cpu_time_total
    print(f"{img_tokens} image + {TXT_TOKENS} text tokens, {torch.get_num_threads()} thread(s), "
          f"wall {wall:.2f} s; share of self CPU time:")
    for group, time_us in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {group:28s} {100 * time_us / total:5.1f}%")
    print(events.table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
