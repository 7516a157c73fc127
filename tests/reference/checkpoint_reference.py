#!/usr/bin/python3
"""Independent references for the checkpoint library (engine/checkpoint/).

Run with Debian's /usr/bin/python3 (numpy). Written from the format definitions (flux-spec.md §6
for float8, the safetensors format description for files), never from our C++ output. Files are
exchanged as safetensors, read and written by safetensors_io.py (a separate implementation) with
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
import sys

import numpy as np

import safetensors_io

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
    safetensors_io.write(out, [("e4m3", "F64", decode_float8(4, 3, False)),
                            ("e5m2", "F64", decode_float8(5, 2, True))])


def fp8_encode(path_in, path_out):
    tensors, _ = safetensors_io.read_raw(path_in, strict=True)
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
    safetensors_io.write(path_out, [("code", "U8", codes)])


def inspect(path):
    tensors, metadata = safetensors_io.read_raw(path, strict=True)
    for name, dtype, shape, raw in tensors:
        print(name, dtype, ",".join(str(d) for d in shape) or "scalar",
              raw.hex() or "-")
    for key in sorted(metadata):
        print("metadata %s=%s" % (key, metadata[key]))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"fp8_decode": fp8_decode, "fp8_encode": fp8_encode, "inspect": inspect}[command](*args)
