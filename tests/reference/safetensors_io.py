"""The safetensors reading and writing shared by the Python references in this folder.

Written from the safetensors format description (8-byte little-endian header length, a JSON header
of {name: {dtype, shape, data_offsets}} plus optional "__metadata__", then the data section),
never from our C++ reader, so that a bug there cannot hide in both. Stored values are decoded from
their raw bytes (BF16: the top half of an f32; F8_E4M3: sign / 4-bit exponent (bias 7) / 3-bit
mantissa, subnormals at exponent 0, S.1111.111 NaN) so that a reference sees exactly the quantized
values the engine stores.
"""
import json
import struct

import numpy as np

# The numpy type of each dtype's stored bytes (BF16 and float8 as unsigned integers of their width).
NUMPY_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "F8_E4M3": "u1", "F8_E5M2": "u1",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "u1",
}


def decode_e4m3(codes):
    """float8_e4m3fn codes -> float64: no infinities; S.1111.111 is NaN."""
    codes = np.asarray(codes).astype(np.int64)
    sign = np.where(codes & 0x80, -1.0, 1.0)
    exponent = (codes >> 3) & 0xF
    mantissa = (codes & 0x7).astype(np.float64)
    normal = np.ldexp(1.0 + mantissa / 8.0, (exponent - 7).astype(np.int32))
    subnormal = np.ldexp(mantissa / 8.0, -6)
    values = sign * np.where(exponent == 0, subnormal, normal)
    return np.where((codes & 0x7F) == 0x7F, np.nan, values)


def read_raw(path, strict=False):
    """([(name, dtype, shape, bytes)] in header order, metadata dict).

    strict: apply the reference library's rules (tensors tile the data section from offset 0 to the
    end of the file without holes or overlaps, and each byte span is shape x element size)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", None) or {}
    data = blob[8 + n:]
    if strict:
        expected_begin = 0
        for name, entry in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            begin, end = entry["data_offsets"]
            assert begin == expected_begin, "hole or overlap before %s" % name
            itemsize = np.dtype(NUMPY_DTYPES[entry["dtype"]]).itemsize
            assert end - begin == itemsize * int(np.prod(entry["shape"], dtype=np.int64)), name
            expected_begin = end
        assert expected_begin == len(data), "data section has trailing bytes"
    tensors = []
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors.append((name, entry["dtype"], list(entry["shape"]), data[begin:end]))
    return tensors, metadata


def decode(dtype, shape, raw):
    """Stored bytes -> float64 array (I64 -> int64)."""
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        values = bits.view(np.float32).astype(np.float64)
    elif dtype == "F8_E4M3":
        values = decode_e4m3(np.frombuffer(raw, dtype=np.uint8))
    elif dtype == "I64":
        values = np.frombuffer(raw, dtype="<i8").astype(np.int64)
    elif dtype in ("F64", "F32", "F16"):
        values = np.frombuffer(raw, dtype=NUMPY_DTYPES[dtype]).astype(np.float64)
    else:
        raise ValueError("unsupported dtype " + dtype)
    return values.reshape(shape)


def read(path):
    """({name: float64 array (int64 for I64)}, metadata dict)."""
    tensors, metadata = read_raw(path)
    return {name: decode(dtype, shape, raw) for name, dtype, shape, raw in tensors}, metadata


def write(path, tensors, metadata=None):
    """tensors: [(name, dtype, array)] written in that order; the header is padded to 8 bytes."""
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, dtype, array in tensors:
        raw = np.ascontiguousarray(array, dtype=NUMPY_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(np.shape(array)),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def write_f64(path, tensors):
    """tensors: {name: array}, every one stored as F64."""
    write(path, [(name, "F64", array) for name, array in tensors.items()])
