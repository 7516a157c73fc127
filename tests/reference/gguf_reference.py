#!/usr/bin/env python3
"""References for the C++ GGUF reader and dequantizers (engine/checkpoint/gguf_*), from PyPI's
`gguf` package (gguf-py, llama.cpp's own Python library, pinned in scripts/requirements.txt): its
writer makes the files, its reader and numpy dequantizers (ports of ggml-quants.c's
dequantize_row_*) say what the C++ side must read. Run with the virtual environment's python3
(STREAMDIT_PYTHON). Raw arrays are little-endian and headerless.

  blocks OUT_DIR COUNT SEED [NAME...]
                              for every type the C++ reader supports (or the NAMEd ones: "Q4_K"),
                              writes OUT_DIR/NAME.blocks (COUNT random blocks of raw bytes) and
                              OUT_DIR/NAME.f32 (gguf's float32 dequantization of them), and prints
                              one line per type:
                              "NAME type_id block_size block_bytes". fp16 scale fields of the first
                              blocks cycle through extreme values (max/min normal, subnormals,
                              signed zeros, infinities, NaNs), the next ones hold realistic scales,
                              the rest stay random bytes.
  write OUT.gguf OUT_DIR ALIGNMENT
                              writes a GGUF with GGUFWriter (architecture "flux"; metadata of every
                              value type, arrays of several types and nested arrays; tensors in
                              F32, F16, BF16 and Q8_0..Q5_1 quantized by gguf.quants.quantize, plus
                              K-quant tensors of random blocks), ALIGNMENT 0 for the default. Reads
                              it back with GGUFReader and writes OUT_DIR/manifest.json (metadata
                              and tensor infos as GGUFReader sees them) and OUT_DIR/tensor_I.f32
                              (gguf's dequantization of tensor I, in file order).
"""
import json
import os
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

# The types the C++ reader supports (engine/checkpoint/gguf_types.h).
TYPES = [T.F32, T.F16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K,
         T.Q6_K, T.BF16]

# Byte offsets of the fp16 scale fields (d, m / dmin) inside one block of each type (ggml's
# block_q4_0 ... block_q6_K structs).
HALF_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}

# fp16 bit patterns at the edges: max normal, min normal, max and min subnormal (both signs),
# signed zeros, one, infinities, quiet and signalling NaNs with payloads.
SPECIAL_HALVES = [0x7BFF, 0xFBFF, 0x0400, 0x8400, 0x03FF, 0x83FF, 0x0001, 0x8001, 0x0000, 0x8000,
                  0x3C00, 0xBC00, 0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0xFC01, 0x7FFF, 0x7D55]
SPECIAL_FLOATS = [0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x007FFFFF, 0x00000001, 0x80000001,
                  0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
                  0xFFFFFFFF, 0x3F800000]
SPECIAL_BF16 = [0x7F7F, 0xFF7F, 0x0080, 0x007F, 0x0001, 0x8001, 0x0000, 0x8000, 0x7F80, 0xFF80,
                0x7FC0, 0x7F81, 0xFFFF, 0x3F80]


def random_blocks(qtype, count, rng):
    block_size, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(count, block_bytes), dtype=np.uint8)
    if qtype in (T.F32, T.F16, T.BF16):
        specials = {T.F32: (SPECIAL_FLOATS, "<u4"), T.F16: (SPECIAL_HALVES, "<u2"),
                    T.BF16: (SPECIAL_BF16, "<u2")}[qtype]
        values = np.array(specials[0], dtype=specials[1])
        flat = blocks.reshape(-1).view(specials[1])
        flat[:len(values)] = values
        return blocks
    fields = HALF_FIELDS[qtype]
    third = count // 3
    for k, offset in enumerate(fields):
        # Extreme scales: field k cycles with its own stride so that the (d, dmin) pairs mix.
        index = (np.arange(third) // (len(SPECIAL_HALVES) ** k)) % len(SPECIAL_HALVES)
        halves = np.array(SPECIAL_HALVES, dtype="<u2")[index]
        blocks[:third, offset:offset + 2] = halves.view(np.uint8).reshape(third, 2)
        # Realistic scales: magnitudes like a trained layer's (1e-5 .. 1e-1), either sign.
        real = (rng.standard_normal(third) * 10.0 ** rng.uniform(-5, -1, third)).astype("<f2")
        blocks[third:2 * third, offset:offset + 2] = real.view(np.uint8).reshape(third, 2)
    # Saturated quants: a few blocks of all-zero and all-one quant bits around the scales.
    for row, fill in ((2 * third, 0x00), (2 * third + 1, 0xFF)):
        saved = [blocks[row, o:o + 2].copy() for o in fields]
        blocks[row, :] = fill
        for o, s in zip(fields, saved):
            blocks[row, o:o + 2] = s
    return blocks


def dequantize(raw, qtype):
    with np.errstate(all="ignore"):  # NaN and infinity scales are part of the test
        return np.ascontiguousarray(gguf.quants.dequantize(raw, qtype), dtype="<f4")


def blocks(out_dir, count, seed, *names):
    rng = np.random.default_rng(int(seed))
    count = int(count)
    for qtype in TYPES:
        if names and qtype.name not in names:
            continue
        raw = random_blocks(qtype, count, rng)
        raw.tofile(os.path.join(out_dir, qtype.name + ".blocks"))
        dequantize(raw, qtype).tofile(os.path.join(out_dir, qtype.name + ".f32"))
        block_size, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        print(qtype.name, int(qtype), block_size, block_bytes)


def add_metadata(writer):
    writer.add_uint8("test.u8", 255)
    writer.add_int8("test.i8", -128)
    writer.add_uint16("test.u16", 65535)
    writer.add_int16("test.i16", -32768)
    writer.add_uint32("test.u32", 4294967295)
    writer.add_int32("test.i32", -2147483648)
    writer.add_float32("test.f32", 0.1)
    writer.add_uint64("test.u64", 18446744073709551615)
    writer.add_int64("test.i64", -9223372036854775808)
    writer.add_float64("test.f64", -2.5e-300)
    writer.add_bool("test.bool_true", True)
    writer.add_bool("test.bool_false", False)
    writer.add_string("test.string", "FLUX.1 \u2014 schnell \u2713")
    writer.add_key_value("test.empty_string", "", V.STRING)
    writer.add_array("test.ints", [1, -2, 300000])
    writer.add_array("test.floats", [0.5, -1.25, 3.0e38])
    writer.add_array("test.strings", ["double_blocks", "", "single_blocks.37"])
    writer.add_array("test.bools", [True, False, True])
    writer.add_key_value("test.u8_array", [0, 7, 255], V.ARRAY, sub_type=V.UINT8)
    writer.add_key_value("test.i64_array", [-(2 ** 63), 2 ** 63 - 1], V.ARRAY, sub_type=V.INT64)
    writer.add_key_value("test.f64_array", [1e-300, -0.0], V.ARRAY, sub_type=V.FLOAT64)
    writer.add_array("test.nested", [[1, 2], [3], [[4, 5], [6]]])
    writer.add_array("test.nested_strings", [["a", "bc"], ["def"]])


def add_tensors(writer, rng):
    tensors = [("img_in.weight", T.F32, (3, 5)),
               ("img_in.bias", T.F16, (2, 3, 4)),
               ("txt_in.weight", T.BF16, (7, 6)),
               ("double_blocks.0.img_attn.qkv.weight", T.Q8_0, (4, 64)),
               ("double_blocks.0.img_mlp.0.weight", T.Q4_0, (2, 96)),
               ("double_blocks.0.img_mlp.2.weight", T.Q4_1, (64,)),
               ("single_blocks.0.linear1.weight", T.Q5_0, (3, 2, 32)),
               ("single_blocks.0.linear2.weight", T.Q5_1, (1, 2, 3, 32))]
    for name, qtype, shape in tensors:
        values = rng.standard_normal(shape).astype(np.float32)
        values.reshape(-1)[:2] = [0.0, -7.5]  # a zero and an outlier in the first block
        if qtype == T.F32:
            writer.add_tensor(name, values)
        elif qtype == T.F16:
            writer.add_tensor(name, values.astype(np.float16))
        else:
            writer.add_tensor(name, gguf.quants.quantize(values, qtype), raw_dtype=qtype)
    # gguf-py cannot quantize to the K-quants: random blocks with realistic scales stand in.
    for qtype, rows, name in ((T.Q2_K, 2, "final_layer.q2"), (T.Q3_K, 1, "final_layer.q3"),
                              (T.Q4_K, 3, "final_layer.q4"), (T.Q5_K, 1, "final_layer.q5"),
                              (T.Q6_K, 2, "final_layer.q6")):
        # Two blocks per row: random_blocks' middle third, the realistic scales.
        raw = random_blocks(qtype, 3 * 2 * rows, rng)[2 * rows:4 * rows]
        writer.add_tensor(name, raw.reshape(rows, -1), raw_dtype=qtype)


def plain(value):
    """A GGUFReader field's contents as JSON-able values (nested lists for arrays)."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def write(path, out_dir, alignment):
    rng = np.random.default_rng(7)
    writer = gguf.GGUFWriter(path, arch="flux")
    if int(alignment):
        writer.add_custom_alignment(int(alignment))
    add_metadata(writer)
    add_tensors(writer, rng)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    reader = gguf.GGUFReader(path)
    metadata = []
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue  # the reader's pseudo-fields for the header
        types = [V(t).name for t in field.types]
        metadata.append({"key": key, "types": types, "value": plain(field.contents())})
    tensors = []
    for index, tensor in enumerate(reader.tensors):
        values = dequantize(np.asarray(tensor.data), tensor.tensor_type)
        values.tofile(os.path.join(out_dir, "tensor_%d.f32" % index))
        tensors.append({"name": tensor.name, "type": int(tensor.tensor_type),
                        "ggml_dims": [int(d) for d in tensor.shape],
                        "numpy_shape": list(values.shape),
                        "data_offset": int(tensor.data_offset), "n_bytes": int(tensor.n_bytes)})
    manifest = {"alignment": int(reader.alignment), "data_offset": int(reader.data_offset),
                "metadata": metadata, "tensors": tensors}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"blocks": blocks, "write": write}[command](*args)
