#!/usr/bin/python3
"""Independent references for the checkpoint library (engine/checkpoint/).

Run with Debian's /usr/bin/python3 (numpy). Written from the format definitions (flux-spec.md §6
for float8, the safetensors format description for files), never from our C++ output. Files are
exchanged as safetensors, read and written here by a separate ~40-line implementation that applies
the reference library's strict rules (contiguous data from offset 0 to the end of the file).

  fp8_decode OUT          writes F64 tensors "e4m3" and "e5m2" [256]: the value of every code,
                          decoded from its sign/exponent/mantissa bit fields with numpy
  fp8_encode IN OUT       reads F32 tensor "x" from IN, writes U8 tensor "code": the e4m3fn code
                          nearest to each x (ties to the even code), |x| >= 448 saturating to
                          +-448, NaN to 0x7F; found by brute force over all finite codes
  inspect IN              prints one line per tensor in header order: name dtype shape (comma
                          separated, "scalar" for []) and the bytes in hex ("-" when empty),
                          then "metadata KEY=VALUE" lines (sorted)
"""
import json
import struct
import sys

import numpy as np

NUMPY_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "F8_E4M3": "u1", "F8_E5M2": "u1",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1",
}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = []
    expected_begin = 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = entry["data_offsets"]
        assert begin == expected_begin, "hole or overlap before %s" % name
        itemsize = np.dtype(NUMPY_DTYPES[entry["dtype"]]).itemsize
        assert end - begin == itemsize * int(np.prod(entry["shape"], dtype=np.int64)), name
        expected_begin = end
        tensors.append((name, entry["dtype"], entry["shape"], data[begin:end]))
    assert expected_begin == len(data), "data section has trailing bytes"
    order = list(header.keys())
    tensors.sort(key=lambda t: order.index(t[0]))
    return tensors, metadata


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, dtype, array in tensors:
        raw = np.ascontiguousarray(array, dtype=NUMPY_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def decode_float8(exponent_bits, mantissa_bits, ieee_specials):
    codes = np.arange(256, dtype=np.int64)
    sign = np.where(codes >> 7 == 1, -1.0, 1.0)
    exponent = (codes >> mantissa_bits) & ((1 << exponent_bits) - 1)
    mantissa = codes & ((1 << mantissa_bits) - 1)
    bias = 2 ** (exponent_bits - 1) - 1
    fraction = mantissa / 2.0 ** mantissa_bits
    normal = (1.0 + fraction) * np.power(2.0, exponent - bias)
    subnormal = fraction * 2.0 ** (1 - bias)
    value = sign * np.where(exponent == 0, subnormal, normal)
    top = exponent == (1 << exponent_bits) - 1
    if ieee_specials:
        value = np.where(top & (mantissa == 0), sign * np.inf, value)
        value = np.where(top & (mantissa != 0), np.nan, value)
    else:
        value = np.where(top & (mantissa == (1 << mantissa_bits) - 1), np.nan, value)
    return value


def fp8_decode(out):
    write_safetensors(out, [("e4m3", "F64", decode_float8(4, 3, False)),
                            ("e5m2", "F64", decode_float8(5, 2, True))])


def fp8_encode(path_in, path_out):
    tensors, _ = read_safetensors(path_in)
    (raw,) = [t[3] for t in tensors if t[0] == "x"]
    with np.errstate(invalid="ignore"):  # signalling NaNs among the inputs are expected
        x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    positive_values = decode_float8(4, 3, False)[:0x7F]  # codes 0x00..0x7E, all finite
    codes = np.zeros(x.shape, dtype=np.uint8)
    for start in range(0, x.size, 4096):
        chunk = np.abs(x[start:start + 4096])
        distance = np.abs(chunk[:, None] - positive_values[None, :])
        best = distance.min(axis=1, keepdims=True)
        tied = distance == best
        # Among equally near codes prefer an even one (the last mantissa bit is the code's).
        even_tied = tied & (np.arange(0x7F)[None, :] % 2 == 0)
        choice = np.where(even_tied.any(axis=1), even_tied.argmax(axis=1), tied.argmax(axis=1))
        choice = np.where(chunk >= 448.0, 0x7E, choice)
        codes[start:start + 4096] = choice
    codes |= np.where(np.signbit(x), 0x80, 0).astype(np.uint8)
    codes[np.isnan(x)] = 0x7F
    write_safetensors(path_out, [("code", "U8", codes)])


def inspect(path):
    tensors, metadata = read_safetensors(path)
    for name, dtype, shape, raw in tensors:
        print(name, dtype, ",".join(str(d) for d in shape) or "scalar",
              raw.hex() or "-")
    for key in sorted(metadata):
        print("metadata %s=%s" % (key, metadata[key]))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"fp8_decode": fp8_decode, "fp8_encode": fp8_encode, "inspect": inspect}[command](*args)
