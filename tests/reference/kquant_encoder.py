#!/usr/bin/env python3
"""A numpy encoder of GGML's K-quant blocks (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), which PyPI's `gguf`
0.19 can dequantize but not quantize. It writes ggml's block structs byte for byte (block_q2_K ...
block_q6_K in ggml-common.h: 256-element super-blocks, little-endian fp16 scales), so that gguf's
own dequantizer reads them; the engine's tests always take their reference values from
gguf.quants.dequantize of these bytes, never from this file.

The scales are chosen simply, not by llama.cpp's error-minimizing search: per sub-block a min/max
range (types with a min: Q2_K, Q4_K, Q5_K) or the signed value of largest magnitude (symmetric
types: Q3_K, Q6_K), the super-block's fp16 scales from the largest sub-block scale, and each
quant rounded to nearest against the scales as the decoder will compute them. A correct but
coarser encoding: --self-check bounds its round-trip error through gguf's dequantizer.

  quantize(values, qtype) -> uint8 array (..., row bytes), as gguf.quants.quantize returns
  python3 kquant_encoder.py --self-check   round trips random rows through gguf.quants.dequantize,
                                           prints "TYPE relative_rms_error" per type and exits 1
                                           when an error exceeds its bound or the bytes are wrong
"""
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

QK_K = 256
K_TYPES = (T.Q2_K, T.Q3_K, T.Q4_K, T.Q5_K, T.Q6_K)


def _half(values):
    """The fp16 the block stores, as its two little-endian bytes (n, 2), and its float32 value."""
    half = values.astype("<f2")
    return half.reshape(-1, 1).view(np.uint8), half.astype(np.float32)


def _divide(numerator, denominator):
    """numerator / denominator, 0 where the denominator is 0 (an all-zero sub-block)."""
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float32)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


def _nearest(values, low, high):
    return np.clip(np.rint(values), low, high).astype(np.int32)


def _asymmetric(groups, levels, scale_levels):
    """Sub-block scales and mins for y = (d * sc) * q - (dmin * m), q in 0..levels, sc and m in
    0..scale_levels. groups: (n, sub-blocks, elements). Returns the fp16 bytes of d and dmin, the
    integer sc, m and q."""
    low = np.minimum(groups.min(axis=-1), 0.0)  # m >= 0 can only move the range down
    scale = (groups.max(axis=-1) - low) / levels
    d_bytes, d = _half(scale.max(axis=-1) / scale_levels)
    dmin_bytes, dmin = _half((-low).max(axis=-1) / scale_levels)
    sc = _nearest(_divide(scale, d[:, None]), 0, scale_levels)
    m = _nearest(_divide(-low, dmin[:, None]), 0, scale_levels)
    # The decoder's float32 products (gguf_dequantize.cc: dl = d * sc, ml = dmin * m).
    dl = (d[:, None] * sc.astype(np.float32))[..., None]
    ml = (dmin[:, None] * m.astype(np.float32))[..., None]
    q = _nearest(_divide(groups + ml, dl), 0, levels)
    return d_bytes, dmin_bytes, sc, m, q


def _symmetric(groups, most_negative, scale_limit):
    """Signed sub-block scales for y = (d * sc) * q, q in most_negative..-most_negative - 1 and sc
    in -scale_limit - 1..scale_limit: the value of largest magnitude maps to q = most_negative (the
    side with one more level), as ggml's make_qx_quants does. Returns d's fp16 bytes, sc, q."""
    index = np.abs(groups).argmax(axis=-1)[..., None]
    extreme = np.take_along_axis(groups, index, axis=-1)[..., 0]
    scale = extreme / most_negative
    d_bytes, d = _half(np.abs(scale).max(axis=-1) / scale_limit)
    sc = _nearest(_divide(scale, d[:, None]), -scale_limit - 1, scale_limit)
    dl = (d[:, None] * sc.astype(np.float32))[..., None]
    q = _nearest(_divide(groups, dl), most_negative, -most_negative - 1)
    return d_bytes, sc, q


def _two_bit_planes(q):
    """ggml's 2-bit packing of 256 quants (Q2_K's and Q3_K's qs[64]): element 128*h + 32*s + l is
    bits 2s..2s+1 of byte 32*h + l."""
    q = q.reshape(-1, 2, 4, 32).astype(np.uint8)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    return np.bitwise_or.reduce((q & 3) << shifts, axis=2).reshape(-1, 64)


def _pack_scale_min_k4(sc, m):
    """Q4_K/Q5_K's 12 bytes of eight 6-bit scales and mins (ggml's quantize_row_q4_K_ref)."""
    packed = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    sc = sc.astype(np.uint8)
    m = m.astype(np.uint8)
    packed[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    packed[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    packed[:, 8:12] = (sc[:, 4:8] & 0x0F) | ((m[:, 4:8] & 0x0F) << 4)
    return packed


def _nibble_pairs(q):
    """Q4_K/Q5_K's qs[128]: element 64*c + 32*h + l is nibble h of byte 32*c + l."""
    q = q.reshape(-1, 4, 2, 32).astype(np.uint8)
    return ((q[:, :, 0, :] & 0x0F) | ((q[:, :, 1, :] & 0x0F) << 4)).reshape(-1, 128)


def _encode_q2_k(blocks):
    # block_q2_K (84 bytes): scales[16] (sc | m << 4), qs[64], d, dmin.
    d, dmin, sc, m, q = _asymmetric(blocks.reshape(-1, 16, 16), 3, 15)
    scales = (sc | (m << 4)).astype(np.uint8)
    return np.concatenate([scales, _two_bit_planes(q), d, dmin], axis=1)


def _encode_q3_k(blocks):
    # block_q3_K (110 bytes): hmask[32], qs[64], scales[12], d. A quant's third bit is bit e / 32
    # of hmask[e % 32]; stored quants and scales carry biases of 4 and 32.
    d, sc, q = _symmetric(blocks.reshape(-1, 16, 16), -4, 31)
    u = (q + 4).reshape(-1, 8, 32).astype(np.uint8)
    shifts = np.arange(8, dtype=np.uint8).reshape(1, 8, 1)
    hmask = np.bitwise_or.reduce(((u >> 2) & 1) << shifts, axis=1)
    s = (sc + 32).astype(np.uint8)  # (n, 16), 0..63
    packed = np.zeros((s.shape[0], 12), dtype=np.uint8)
    packed[:, 0:8] = (s[:, 0:8] & 0x0F) | ((s[:, 8:16] & 0x0F) << 4)
    # Scale 4*j + k keeps its top two bits at bits 2j of byte 8 + k.
    top = ((s >> 4) & 3).reshape(-1, 4, 4)  # [j, k]
    shifts = (2 * np.arange(4, dtype=np.uint8)).reshape(1, 4, 1)
    packed[:, 8:12] = np.bitwise_or.reduce(top << shifts, axis=1)
    return np.concatenate([hmask, _two_bit_planes(u & 3), packed, d], axis=1)


def _encode_q4_k(blocks):
    # block_q4_K (144 bytes): d, dmin, scales[12], qs[128].
    d, dmin, sc, m, q = _asymmetric(blocks.reshape(-1, 8, 32), 15, 63)
    return np.concatenate([d, dmin, _pack_scale_min_k4(sc, m), _nibble_pairs(q)], axis=1)


def _encode_q5_k(blocks):
    # block_q5_K (176 bytes): d, dmin, scales[12], qh[32], qs[128]; the fifth bit of element
    # 32*g + l is bit g of qh[l].
    d, dmin, sc, m, q = _asymmetric(blocks.reshape(-1, 8, 32), 31, 63)
    fifth = ((q.reshape(-1, 8, 32) >> 4) & 1).astype(np.uint8)
    qh = np.bitwise_or.reduce(fifth << np.arange(8, dtype=np.uint8).reshape(1, 8, 1), axis=1)
    return np.concatenate([d, dmin, _pack_scale_min_k4(sc, m), qh, _nibble_pairs(q)], axis=1)


def _encode_q6_k(blocks):
    # block_q6_K (210 bytes): ql[128], qh[64], scales[16] (int8), d. Element 128*h + 32*s + l
    # (quant + 32, 0..63) keeps its low nibble in nibble s / 2 of ql[64*h + 32*(s % 2) + l] and its
    # top two bits at bits 2s of qh[32*h + l].
    d, sc, q = _symmetric(blocks.reshape(-1, 16, 16), -32, 127)
    u = (q + 32).reshape(-1, 2, 4, 32).astype(np.uint8)
    low = u & 0x0F
    ql = np.concatenate([low[:, :, 0] | (low[:, :, 2] << 4), low[:, :, 1] | (low[:, :, 3] << 4)],
                        axis=2).reshape(-1, 128)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    qh = np.bitwise_or.reduce(((u >> 4) & 3) << shifts, axis=2).reshape(-1, 64)
    scales = sc.astype(np.int8).view(np.uint8)
    return np.concatenate([ql, qh, scales, d], axis=1)


ENCODERS = {T.Q2_K: _encode_q2_k, T.Q3_K: _encode_q3_k, T.Q4_K: _encode_q4_k,
            T.Q5_K: _encode_q5_k, T.Q6_K: _encode_q6_k}


def quantize(values, qtype):
    """values (..., row) with row % 256 == 0 -> uint8 (..., row / 256 * block bytes)."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape[-1] % QK_K != 0:
        raise gguf.QuantError(f"rows of {values.shape[-1]} are not 256-element super-blocks")
    block_bytes = gguf.GGML_QUANT_SIZES[qtype][1]
    raw = ENCODERS[qtype](values.reshape(-1, QK_K))
    assert raw.dtype == np.uint8 and raw.shape[1] == block_bytes, (qtype.name, raw.shape)
    return raw.reshape(*values.shape[:-1], values.shape[-1] // QK_K * block_bytes)


# Relative RMS error bounds of the round trip on Gaussian rows. Rounding to nearest over a
# sub-block's range in L levels gives about range / L / sqrt(12) (range ~ 4-5 sigma over 16 or 32
# Gaussian values): Q2_K ~0.3, Q3_K ~0.13, Q4_K ~0.08, Q5_K ~0.04, Q6_K ~0.02; the bounds leave
# room for the scales' own 6-bit / fp16 rounding and the outlier row. A wrong byte layout
# scrambles quants or scales and gives errors of order 1.
ERROR_BOUNDS = {T.Q2_K: 0.4, T.Q3_K: 0.2, T.Q4_K: 0.12, T.Q5_K: 0.065, T.Q6_K: 0.035}


def self_check():
    rng = np.random.default_rng(20241207)
    rows = rng.standard_normal((64, 4 * QK_K)).astype(np.float32)
    rows[1] *= 1e-3  # small weights, as real layers hold
    rows[2] = np.abs(rows[2])  # one-sided rows
    rows[3] = -np.abs(rows[3])
    rows[4, ::7] *= 30.0  # outliers
    edge = np.zeros((3, QK_K), dtype=np.float32)
    edge[1] = 0.5  # constant
    edge[2, 5] = -2.0  # one non-zero element
    failed = False
    previous = None
    for qtype in K_TYPES:
        raw = quantize(rows, qtype)
        expected = (rows.shape[0], rows.shape[1] // QK_K * gguf.GGML_QUANT_SIZES[qtype][1])
        decoded = gguf.quants.dequantize(raw, qtype)
        error = float(np.sqrt(np.mean((decoded - rows) ** 2) / np.mean(rows ** 2)))
        small = float(np.sqrt(np.mean((decoded[1] - rows[1]) ** 2) / np.mean(rows[1] ** 2)))
        edge_decoded = gguf.quants.dequantize(quantize(edge, qtype), qtype)
        print(f"{qtype.name} {error:.4g} (small rows {small:.4g})")
        checks = {
            "byte shape": raw.shape == expected,
            "error bound": error <= ERROR_BOUNDS[qtype] and small <= ERROR_BOUNDS[qtype],
            "fewer bits, larger error": previous is None or error < previous,
            "zeros stay zero": not np.any(edge_decoded[0]),
            # Its sub-block's other elements come back near 0, within the fp16 scales' rounding.
            "a lone element keeps its value": abs(edge_decoded[2, 5] + 2.0) <= 2e-2 and
            np.all(np.abs(np.delete(edge_decoded[2], 5)) <= 2e-2),
            "a constant row stays near": np.allclose(edge_decoded[1], 0.5, rtol=0.1),
        }
        for name, ok in checks.items():
            if not ok:
                print(f"{qtype.name}: {name} failed", file=sys.stderr)
                failed = True
        previous = error
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--self-check"]:
        sys.exit(__doc__)
    sys.exit(self_check())
