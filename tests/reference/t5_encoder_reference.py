#!/usr/bin/python3
"""Independent float64 NumPy reference of the T5 v1.1 encoder as FLUX uses it.

Written from flux-spec.md section 5.1 and HF transformers modeling_t5 (T5LayerNorm, T5Attention
with relative_attention_bias and _relative_position_bucket, T5DenseGatedActDense with gelu_new),
not from our C++ code. It decodes the stored values itself (safetensors_io.py: F32, F16, BF16,
F8_E4M3), so a quantized checkpoint is compared against the exact values it holds.

usage:
  t5_encoder_reference.py forward WEIGHTS IDS OUT [--prefix P]
      WEIGHTS  safetensors with HF T5EncoderModel keys (embedding as shared.weight or
               encoder.embed_tokens.weight), optionally under prefix P
      IDS      safetensors with tensor "ids" (I64) [batch, length]
      OUT      written with tensor "hidden" (F64) [batch, length, d_model]
  t5_encoder_reference.py buckets N
      prints the bidirectional bucket (32 buckets, max distance 128) of every relative position
      -N..N, space separated
"""

import math
import sys

import numpy as np

import safetensors_io

NUM_BUCKETS = 32
MAX_DISTANCE = 128
EPS = 1e-6


# --- model ------------------------------------------------------------------------------------

def relative_position_bucket(relative_position):
    """HF T5Attention._relative_position_bucket, bidirectional=True."""
    relative_position = np.asarray(relative_position, dtype=np.int64)
    num_buckets = NUM_BUCKETS // 2
    buckets = (relative_position > 0).astype(np.int64) * num_buckets
    distance = np.abs(relative_position)
    max_exact = num_buckets // 2
    is_small = distance < max_exact
    safe = np.maximum(distance, 1).astype(np.float64)
    large = max_exact + (np.log(safe / max_exact) / math.log(MAX_DISTANCE / max_exact)
                         * (num_buckets - max_exact)).astype(np.int64)
    large = np.minimum(large, num_buckets - 1)
    return buckets + np.where(is_small, distance, large)


def rms_norm(x, weight):
    variance = np.mean(x * x, axis=-1, keepdims=True)
    return weight * (x / np.sqrt(variance + EPS))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def encoder_forward(weights, prefix, ids):
    w = {name[len(prefix):]: value for name, value in weights.items() if name.startswith(prefix)}
    embedding = w.get("shared.weight")
    if embedding is None:
        embedding = w["encoder.embed_tokens.weight"]
    layers = 0
    while f"encoder.block.{layers}.layer.0.SelfAttention.q.weight" in w:
        layers += 1
    table = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    heads = table.shape[1]

    h = embedding[ids]  # [B, L, D], not scaled
    batch, length, _ = h.shape
    positions = np.arange(length)
    relative = positions[None, :] - positions[:, None]  # key - query, [Lq, Lk]
    bias = table[relative_position_bucket(relative)]  # [Lq, Lk, H]
    bias = np.transpose(bias, (2, 0, 1))[None]  # [1, H, Lq, Lk]

    for i in range(layers):
        p = f"encoder.block.{i}.layer."
        x = rms_norm(h, w[p + "0.layer_norm.weight"])

        def split(projection):
            y = x @ w[p + f"0.SelfAttention.{projection}.weight"].T
            return y.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3)

        q, k, v = split("q"), split("k"), split("v")
        scores = q @ k.transpose(0, 1, 3, 2) + bias  # no 1/sqrt(d_kv)
        context = softmax(scores) @ v  # [B, H, L, d_kv]
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, -1)
        h = h + context @ w[p + "0.SelfAttention.o.weight"].T

        x = rms_norm(h, w[p + "1.layer_norm.weight"])
        gate = gelu_tanh(x @ w[p + "1.DenseReluDense.wi_0.weight"].T)
        up = x @ w[p + "1.DenseReluDense.wi_1.weight"].T
        h = h + (gate * up) @ w[p + "1.DenseReluDense.wo.weight"].T

    return rms_norm(h, w["encoder.final_layer_norm.weight"])


def main(argv):
    if len(argv) >= 2 and argv[1] == "buckets":
        n = int(argv[2])
        print(" ".join(str(b) for b in relative_position_bucket(np.arange(-n, n + 1))))
        return 0
    if len(argv) >= 5 and argv[1] == "forward":
        prefix = ""
        if len(argv) == 7 and argv[5] == "--prefix":
            prefix = argv[6]
        weights = safetensors_io.read(argv[2])[0]
        ids = safetensors_io.read(argv[3])[0]["ids"]
        safetensors_io.write_f64(argv[4], {"hidden": encoder_forward(weights, prefix, ids)})
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
