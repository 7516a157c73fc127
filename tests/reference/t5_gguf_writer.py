"""Writes a T5 encoder as llama.cpp's GGUF files are laid out (city96's
t5-v1_1-xxl-encoder-Q8_0.gguf and its siblings), with the PyPI `gguf` package's own name map,
writer and quantizer (never the engine's code), and the same encoder's dequantized weights as an F32
safetensors file under Hugging Face's names: the reference the C++ tests compare the engine's GGUF
T5 path against.

usage: t5_gguf_writer.py SOURCE.safetensors OUT.gguf TYPE OUT_DEQUANTIZED.safetensors [ARCH]

Names come from gguf's TensorNameMap for MODEL_ARCH.T5ENCODER (what llama.cpp's
convert_hf_to_gguf.py uses: token_embd, enc.blk.N.attn_q, ..., enc.output_norm), with
`general.architecture` = ARCH (default "t5encoder"). Every 2-D tensor whose rows fit TYPE's blocks is
stored in TYPE (the embedding table and the relative attention bias included, as quantized files
have them), others in F16, 1-D tensors in F32. HF's tied copy `encoder.embed_tokens.weight` is left
out, as the converter leaves it out. Prints "<gguf name> <type> <stored bytes>" per tensor.
"""
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

import safetensors_io


def block_count(names):
    blocks = [int(n.split(".")[2]) for n in names if n.startswith("encoder.block.")]
    return max(blocks) + 1


def main(source, out_gguf, type_name, out_dequantized, arch="t5encoder"):
    qtype = T[type_name]
    tensors, metadata = safetensors_io.read(source)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.T5ENCODER, block_count(tensors))
    writer = gguf.GGUFWriter(out_gguf, arch=arch)
    dequantized = []
    block_size = gguf.GGML_QUANT_SIZES[qtype][0]
    for name, values in tensors.items():
        if name == "encoder.embed_tokens.weight" and "shared.weight" in tensors:
            continue
        gguf_name = name_map.get_name(name, try_suffixes=(".weight",))
        assert gguf_name is not None, name
        values = values.astype(np.float32)
        if values.ndim == 1:
            stored_type = T.F32
        elif values.shape[-1] % block_size == 0:
            stored_type = qtype
        else:
            stored_type = T.F16
        if stored_type == T.F32:
            writer.add_tensor(gguf_name, values)
            decoded = values
        else:
            raw = gguf.quants.quantize(values, stored_type)
            writer.add_tensor(gguf_name, raw, raw_dtype=stored_type)
            decoded = gguf.quants.dequantize(raw, stored_type).astype(np.float32)
        assert decoded.shape == values.shape, name
        hf_name = "shared.weight" if name == "encoder.embed_tokens.weight" else name
        dequantized.append((hf_name, "F32", decoded))
        print(gguf_name, stored_type.name, writer.tensors[-1][gguf_name].nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    safetensors_io.write(out_dequantized, dequantized, metadata)


if __name__ == "__main__":
    main(*sys.argv[1:])
