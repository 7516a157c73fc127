#!/usr/bin/python3
"""Independent float64 NumPy reference for the CLIP text encoder (engine/text/clip_text_encoder).

Written from flux-spec.md §5.2 (HF CLIPTextModel semantics), never from our C++ output:
  x = token_embedding[ids] + position_embedding[:L]
  per layer: x += out_proj(softmax(q kᵀ / sqrt(64) + causal) v) on LN1(x); x += fc2(qgelu(fc1(LN2(x))))
  final layer norm (eps 1e-5); pooled = final state at each row's first EOS.
Stored weights are decoded (safetensors_io.py) from their raw bytes, so that the reference sees
exactly the quantized values the engine stores.

  clip_encoder_reference.py WEIGHTS IDS OUT EOS_ID PREFIX
    WEIGHTS: safetensors; tensors "PREFIXtext_model...." (PREFIX may be "-" for none)
    IDS: safetensors with I64 "input_ids" [B, L]
    OUT: safetensors with F64 "hidden_states" [B, L, H] and "pooled" [B, H]
"""
import sys

import numpy as np

import safetensors_io

HEAD_DIM = 64
EPS = 1e-5
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
    stored = safetensors_io.read(weights_path)[0]
    w = {name[len(prefix):]: value for name, value in stored.items() if name.startswith(prefix)}
    ids = safetensors_io.read(ids_path)[0]["input_ids"]
    hidden_states, pooled = encode(w, ids, int(eos_id))
    safetensors_io.write_f64(out_path, {"hidden_states": hidden_states, "pooled": pooled})


if __name__ == "__main__":
    main(sys.argv)
