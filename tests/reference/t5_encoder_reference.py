#!/usr/bin/python3
"""Independent float64 NumPy reference of the T5 v1.1 encoder as FLUX uses it.

Written from flux-spec.md section 5.1 and HF transformers modeling_t5 (T5LayerNorm, T5Attention
with relative_attention_bias and _relative_position_bucket, T5DenseGatedActDense with gelu_new),
not from our C++ code. It decodes the stored values itself (F32, F16, BF16, F8_E4M3), so a
quantized checkpoint is compared against the exact values it holds.

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

import json
import math
import struct
import sys

import numpy as np

NUM_BUCKETS = 32
MAX_DISTANCE = 128
EPS = 1e-6


# --- safetensors ------------------------------------------------------------------------------

def decode_e4m3(codes):
    """float8_e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no inf; S.1111.111 is NaN."""
    codes = codes.astype(np.int64)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 3) & 0xF
    mantissa = (codes & 0x7).astype(np.float64)
    normal = np.ldexp(1.0 + mantissa / 8.0, (exponent - 7).astype(np.int32))
    subnormal = np.ldexp(mantissa / 8.0, -6)
    values = sign * np.where(exponent == 0, subnormal, normal)
    return np.where((codes & 0x7F) == 0x7F, np.nan, values)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + header_len])
    data = raw[8 + header_len:]
    header.pop("__metadata__", None)
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        buf = data[begin:end]
        dtype = entry["dtype"]
        if dtype == "F64":
            arr = np.frombuffer(buf, dtype="<f8").astype(np.float64)
        elif dtype == "F32":
            arr = np.frombuffer(buf, dtype="<f4").astype(np.float64)
        elif dtype == "F16":
            arr = np.frombuffer(buf, dtype="<f2").astype(np.float64)
        elif dtype == "BF16":
            bits = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).astype(np.float64)
        elif dtype == "F8_E4M3":
            arr = decode_e4m3(np.frombuffer(buf, dtype=np.uint8))
        elif dtype == "I64":
            arr = np.frombuffer(buf, dtype="<i8").astype(np.int64)
        else:
            raise ValueError(f"{path}: {name}: unsupported dtype {dtype}")
        tensors[name] = arr.reshape(entry["shape"])
    return tensors


def write_safetensors_f64(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        blob = np.ascontiguousarray(arr, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


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
        weights = read_safetensors(argv[2])
        ids = read_safetensors(argv[3])["ids"]
        write_safetensors_f64(argv[4], {"hidden": encoder_forward(weights, prefix, ids)})
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
