"""Writes a model's safetensors file as ComfyUI's "scaled fp8" files are laid out
(flux1-dev-fp8-scaled, t5xxl_fp8_e4m3fn_scaled), from the file's own values with PyTorch's
float8_e4m3fn cast (never the engine's encoder), plus the two files a test compares it with.

usage: scaled_fp8_writer.py SOURCE.safetensors OUT_SCALED OUT_UNSCALED OUT_DEQUANTIZED

  OUT_SCALED       every matmul weight (2-D "*.weight", not an embedding table) as F8_E4M3 codes of
                   weight / scale with scale = max|weight| / 448, its scale as "<stem>.scale_weight"
                   (F32, shape []), the marker tensor "scaled_fp8" (F8_E4M3, shape [0]); the other
                   tensors as in SOURCE.
  OUT_UNSCALED     the same codes without the scales and the marker: what a loader that ignores the
                   scales computes with.
  OUT_DEQUANTIZED  codes x scale as F32 (float32 product, as ComfyUI's dequantization): the model
                   the scaled file must reproduce.

The scales are deliberately far from 1 (weights of magnitude ~0.05 get scales ~1e-4), as in the
published files, so that ignoring them changes every weight by orders of magnitude.
"""
import sys

import numpy as np
import torch

import safetensors_io


def is_embedding_table(name):
    return ("embedding" in name or "embed_tokens" in name or name == "shared.weight"
            or name.endswith(".shared.weight") or "relative_attention_bias" in name)


def main(source, out_scaled, out_unscaled, out_dequantized):
    raw, metadata = safetensors_io.read_raw(source)
    scaled, unscaled, dequantized = [], [], []
    for name, dtype, shape, data in raw:
        values = safetensors_io.decode(dtype, shape, data).astype(np.float32)
        if len(shape) == 2 and name.endswith(".weight") and not is_embedding_table(name):
            # An all-zero weight keeps scale 1 (its codes are zeros whatever the scale).
            scale = np.float32(np.abs(values).max() / 448.0) or np.float32(1.0)
            codes = (torch.from_numpy(values / scale).to(torch.float8_e4m3fn)
                     .view(torch.uint8).numpy())
            decoded = safetensors_io.decode("F8_E4M3", shape, codes.tobytes()).astype(np.float32)
            scaled.append((name, "F8_E4M3", codes))
            scaled.append((name[:-len("weight")] + "scale_weight", "F32", np.array(scale)))
            unscaled.append((name, "F8_E4M3", codes))
            dequantized.append((name, "F32", decoded * scale))
        else:
            # Written back byte for byte in its own dtype; the reference holds its value as F32.
            stored = np.frombuffer(data, dtype=safetensors_io.NUMPY_DTYPES[dtype]).reshape(shape)
            scaled.append((name, dtype, stored))
            unscaled.append((name, dtype, stored))
            dequantized.append((name, "F32", values))
    scaled.append(("scaled_fp8", "F8_E4M3", np.zeros([0], dtype=np.uint8)))
    safetensors_io.write(out_scaled, scaled, metadata)
    safetensors_io.write(out_unscaled, unscaled, metadata)
    safetensors_io.write(out_dequantized, dequantized, metadata)


if __name__ == "__main__":
    main(*sys.argv[1:])
