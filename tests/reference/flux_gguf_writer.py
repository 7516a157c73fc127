"""Writes a FLUX transformer as city96's GGUF files are laid out, with the PyPI `gguf` package's own
writer and quantizer (never the engine's code; K-quants, which gguf cannot quantize, by our numpy
encoder kquant_encoder.py), and the same model's dequantized weights as a f32 safetensors file: the
reference the C++ tests compare the engine's GGUF path against. The reference always comes from
gguf.quants.dequantize of the bytes written, whichever encoder made them.

usage: flux_gguf_writer.py SOURCE.safetensors OUT.gguf TYPE OUT_DEQUANTIZED.safetensors [ARCH]

city96's layout (ComfyUI-GGUF tools/convert.py and lcpp.patch): BFL tensor names,
`general.architecture = flux`, every 2-D block weight (double_blocks.*, single_blocks.*) in the
file's type TYPE (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16), the
input/output layers (img_in, txt_in, time_in, vector_in, guidance_in, final_layer) in BF16 and every
1-D tensor in F32. A block weight whose rows are not whole blocks of TYPE (K-quants need rows of
256-element super-blocks) is kept in F16, as city96's convert.py falls back when gguf refuses to
quantize it. GGUFWriter stores each tensor's dims innermost first (the numpy shape reversed), as
real files do.

The source's `flux_config` metadata (RoPE axes for head sizes other than FLUX's 128) is carried over
as a GGUF string. ARCH (default "flux") lets a test write a file of another architecture. Prints
"<name> <type> <stored bytes>" per tensor, as gguf's GGUFReader reads them back from the file.
"""
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

import kquant_encoder
import safetensors_io

BLOCK_PREFIXES = ("double_blocks.", "single_blocks.")


def encode(values, qtype):
    """values as the raw bytes of qtype: gguf's quantizer, or ours for the K-quants."""
    if qtype in kquant_encoder.K_TYPES:
        return kquant_encoder.quantize(values, qtype)
    return gguf.quants.quantize(values, qtype)


def main(source, out_gguf, type_name, out_dequantized, arch="flux"):
    qtype = T[type_name]
    tensors, metadata = safetensors_io.read(source)
    writer = gguf.GGUFWriter(out_gguf, arch=arch)
    if "flux_config" in metadata:
        writer.add_string("flux_config", metadata["flux_config"])
    dequantized = []
    for name, values in tensors.items():
        values = values.astype(np.float32)
        if values.ndim == 1:
            stored_type = T.F32
        elif name.startswith(BLOCK_PREFIXES) and name.endswith(".weight"):
            block_size = gguf.GGML_QUANT_SIZES[qtype][0]
            stored_type = qtype if values.shape[-1] % block_size == 0 else T.F16
        else:
            stored_type = T.BF16
        if stored_type == T.F32:
            writer.add_tensor(name, values)
            decoded = values
        else:
            raw = encode(values, stored_type)
            writer.add_tensor(name, raw, raw_dtype=stored_type)
            decoded = gguf.quants.dequantize(raw, stored_type).astype(np.float32)
        assert decoded.shape == values.shape, name
        dequantized.append((name, "F32", decoded))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    safetensors_io.write(out_dequantized, dequantized, metadata)
    for tensor in gguf.GGUFReader(out_gguf).tensors:
        print(tensor.name, tensor.tensor_type.name, tensor.n_bytes)


if __name__ == "__main__":
    main(*sys.argv[1:])
