#!/usr/bin/python3
"""Independent float64 NumPy reference for the CLIP text encoder (engine/text/clip_text_encoder).

Written from flux-spec.md §5.2 (HF CLIPTextModel semantics), never from our C++ output:
  x = token_embedding[ids] + position_embedding[:L]
  per layer: x += out_proj(softmax(q kᵀ / sqrt(64) + causal) v) on LN1(x); x += fc2(qgelu(fc1(LN2(x))))
  final layer norm (eps 1e-5); pooled = final state at each row's first EOS.
Stored weights are decoded here from their raw bytes (BF16: the top half of an f32; F8_E4M3:
sign / 4-bit exponent (bias 7) / 3-bit mantissa, subnormals at exponent 0) so that the reference
sees exactly the quantized values the engine stores.

  clip_encoder_reference.py WEIGHTS IDS OUT EOS_ID PREFIX
    WEIGHTS: safetensors; tensors "PREFIXtext_model...." (PREFIX may be "-" for none)
    IDS: safetensors with I64 "input_ids" [B, L]
    OUT: safetensors with F64 "hidden_states" [B, L, H] and "pooled" [B, H]
"""
import json
import struct
import sys

import numpy as np

HEAD_DIM = 64
EPS = 1e-5
RAW = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "F8_E4M3": "u1", "I64": "<i8"}


def e4m3_value(code):
    sign = -1.0 if code & 0x80 else 1.0
    exponent = (code >> 3) & 0xF
    mantissa = code & 0x7
    if exponent == 0xF and mantissa == 0x7:
        return float("nan")
    if exponent == 0:
        return sign * 2.0 ** -6 * mantissa / 8.0
    return sign * 2.0 ** (exponent - 7) * (1.0 + mantissa / 8.0)


E4M3_TABLE = np.array([e4m3_value(code) for code in range(256)], dtype=np.float64)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = np.frombuffer(data[begin:end], dtype=RAW[entry["dtype"]]).reshape(entry["shape"])
        if entry["dtype"] == "BF16":
            value = (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        elif entry["dtype"] == "F8_E4M3":
            value = E4M3_TABLE[raw]
        elif entry["dtype"] == "I64":
            value = raw.astype(np.int64)
        else:
            value = raw.astype(np.float64)
        tensors[name] = value
    return tensors


def write_safetensors_f64(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, dtype="<f8").tobytes()
        header[name] = {"dtype": "F64", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def layer_norm(x, weight, bias):
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + EPS) * weight + bias


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def attention(x, w, prefix, heads):
    batch, length, hidden = x.shape

    def split(t):
        return t.reshape(batch, length, heads, HEAD_DIM).transpose(0, 2, 1, 3)

    q = split(linear(x, w, prefix + ".q_proj"))
    k = split(linear(x, w, prefix + ".k_proj"))
    v = split(linear(x, w, prefix + ".v_proj"))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(HEAD_DIM)
    future = np.triu(np.ones((length, length), dtype=bool), k=1)  # key after query
    scores = np.where(future, -np.inf, scores)
    scores -= scores.max(axis=-1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=-1, keepdims=True)
    out = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    return linear(out, w, prefix + ".out_proj")


def encode(w, ids, eos_id):
    hidden = w["embeddings.token_embedding.weight"].shape[1]
    heads = hidden // HEAD_DIM
    length = ids.shape[1]
    x = w["embeddings.token_embedding.weight"][ids] + \
        w["embeddings.position_embedding.weight"][:length][None]
    layer = 0
    while "encoder.layers.%d.self_attn.q_proj.weight" % layer in w:
        p = "encoder.layers.%d" % layer
        x = x + attention(layer_norm(x, w[p + ".layer_norm1.weight"], w[p + ".layer_norm1.bias"]),
                          w, p + ".self_attn", heads)
        h = linear(layer_norm(x, w[p + ".layer_norm2.weight"], w[p + ".layer_norm2.bias"]),
                   w, p + ".mlp.fc1")
        h = h / (1.0 + np.exp(-1.702 * h))  # quick_gelu: h * sigmoid(1.702 h)
        x = x + linear(h, w, p + ".mlp.fc2")
        layer += 1
    x = layer_norm(x, w["final_layer_norm.weight"], w["final_layer_norm.bias"])
    first_eos = [int(np.nonzero(row == eos_id)[0][0]) for row in ids]
    pooled = np.stack([x[b, position] for b, position in enumerate(first_eos)])
    return x, pooled


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__)
    weights_path, ids_path, out_path, eos_id, prefix = argv[1:]
    prefix = ("" if prefix == "-" else prefix) + "text_model."
    stored = read_safetensors(weights_path)
    w = {name[len(prefix):]: value for name, value in stored.items() if name.startswith(prefix)}
    ids = read_safetensors(ids_path)["input_ids"]
    hidden_states, pooled = encode(w, ids, int(eos_id))
    write_safetensors_f64(out_path, {"hidden_states": hidden_states, "pooled": pooled})


if __name__ == "__main__":
    main(sys.argv)
