// One decoder per block type, each a sequence of ATen operations on a chunk of blocks viewed as
// kByte [n, block bytes]. Fields are slices of that view; fp16 scales are made contiguous (two
// bytes per block) and reinterpreted as kHalf, then widened to float32 exactly; quants are unpacked
// with shifts and masks into a uint8 buffer in element order, then converted to float32 (exact:
// small integers) in the chunk's values. The float arithmetic then follows gguf_dequantize.cc's
// expressions operation by operation, each one rounding once (no fused multiply-add exists in an
// ATen sequence of mul_ and sub_), so the bits agree. Block layouts: gguf_dequantize.cc.
#include "engine/tensor/gguf_decode_aten.h"

#include <algorithm>
#include <optional>

#include "engine/memory/allocation_bytes.h"
#include "engine/tensor/gguf_decode.h"

namespace streamdit::engine {
namespace {

using torch::Tensor;

// One chunk: `blocks` kByte [n, block bytes] (a view of the stored bytes), `values` float32
// [n, block size] (contiguous; the result or the staging buffer), `q` and `h` uint8 [n, block size]
// (contiguous scratch for the low and high bits of the quants).
struct Chunk {
  Tensor blocks;
  Tensor values;
  Tensor q;
  Tensor h;
  int64_t n = 0;
};

Tensor Field(const Chunk& c, int64_t offset, int64_t length) {
  return c.blocks.narrow(1, offset, length);
}

// The fp16 at `offset` of every block as float32 [n, 1]: the two bytes made contiguous so that
// they can be reinterpreted as kHalf; the widening is exact (subnormals and signed zeros kept).
Tensor HalfField(const Chunk& c, int64_t offset) {
  return Field(c, offset, 2).contiguous().view(torch::kHalf).to(torch::kFloat);
}

// out = (in >> shift) & mask, into `out` (a strided view of the same shape as `in`).
void ShiftMask(Tensor out, const Tensor& in, int64_t shift, int64_t mask) {
  if (shift == 0) {
    at::bitwise_and_out(out, in, mask);
    return;
  }
  at::bitwise_right_shift_out(out, in, shift);
  out.bitwise_and_(mask);
}

// Q4_0/Q4_1/Q5_0/Q5_1's 16 bytes of nibbles into q [n, 32]: element j is the low nibble of byte j,
// element j + 16 its high nibble.
void UnpackNibbles(const Chunk& c, int64_t offset) {
  const Tensor qs = Field(c, offset, 16);
  const Tensor halves = c.q.view({c.n, 2, 16});
  ShiftMask(halves.select(1, 0), qs, 0, 0x0F);
  ShiftMask(halves.select(1, 1), qs, 4, 0x0F);
}

// Q5_0/Q5_1's qh (4 bytes, bit j is element j's fifth bit) into q's bit 4.
void AddFifthBits(const Chunk& c, int64_t offset) {
  const Tensor qh = Field(c, offset, 4);
  const Tensor bits = c.h.view({c.n, 4, 8});  // [byte, bit]
  for (int64_t bit = 0; bit < 8; ++bit) ShiftMask(bits.select(2, bit), qh, bit, 1);
  c.q.bitwise_or_(c.h.mul_(16));
}

// Two-bit quants as Q2_K and Q3_K pack them (qs[64]) into `out` [n, 256]: element
// 128*h + 32*s + l is bits 2s..2s+1 of qs[32*h + l].
void UnpackTwoBitPlanes(const Chunk& c, const Tensor& out, int64_t offset) {
  const Tensor qs = Field(c, offset, 64).view({c.n, 2, 32});
  const Tensor planes = out.view({c.n, 2, 4, 32});
  for (int64_t s = 0; s < 4; ++s) ShiftMask(planes.select(2, s), qs, 2 * s, 3);
}

// Q4_K/Q5_K's nibbles (qs[128]) into q [n, 256]: element 64*c + 32*h + l is nibble h of
// qs[32*c + l].
void UnpackNibblePairs(const Chunk& c, int64_t offset) {
  const Tensor qs = Field(c, offset, 128).view({c.n, 4, 32});
  const Tensor pairs = c.q.view({c.n, 4, 2, 32});
  ShiftMask(pairs.select(2, 0), qs, 0, 0x0F);
  ShiftMask(pairs.select(2, 1), qs, 4, 0x0F);
}

// values = float(q) per element, then per group of `group` elements: values * scale[g] - min[g]
// (scale and min float32 [n, groups]; min may be undefined for none).
void ScaleGroups(const Chunk& c, int64_t group, const Tensor& scale, const Tensor& min) {
  const Tensor grouped = c.values.view({c.n, -1, group});
  grouped.mul_(scale.unsqueeze(2));
  if (min.defined()) grouped.sub_(min.unsqueeze(2));
}

// Q4_0: y = (q - 8) * d.
void DecodeQ4_0(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  UnpackNibbles(c, 2);
  c.values.copy_(c.q);
  c.values.sub_(8).mul_(d);
}

// Q4_1: y = q * d + m.
void DecodeQ4_1(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  const Tensor m = HalfField(c, 2);
  UnpackNibbles(c, 4);
  c.values.copy_(c.q);
  c.values.mul_(d).add_(m);
}

// Q5_0: y = (q - 16) * d.
void DecodeQ5_0(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  UnpackNibbles(c, 6);
  AddFifthBits(c, 2);
  c.values.copy_(c.q);
  c.values.sub_(16).mul_(d);
}

// Q5_1: y = q * d + m.
void DecodeQ5_1(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  const Tensor m = HalfField(c, 2);
  UnpackNibbles(c, 8);
  AddFifthBits(c, 4);
  c.values.copy_(c.q);
  c.values.mul_(d).add_(m);
}

// Q8_0: y = q * d, q the int8 bytes themselves.
void DecodeQ8_0(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  c.values.copy_(Field(c, 2, 32).view(torch::kChar));
  c.values.mul_(d);
}

// Q2_K: y = (d * scale) * q - (dmin * min); scales[16] hold scale (low nibble) and min (high).
void DecodeQ2_K(const Chunk& c) {
  const Tensor d = HalfField(c, 80);
  const Tensor dmin = HalfField(c, 82);
  const Tensor packed = Field(c, 0, 16);
  const Tensor scale = packed.bitwise_and(0x0F).to(torch::kFloat).mul_(d);
  const Tensor min = packed.bitwise_right_shift(4).to(torch::kFloat).mul_(dmin);
  UnpackTwoBitPlanes(c, c.q, 16);
  c.values.copy_(c.q);
  ScaleGroups(c, 16, scale, min);
}

// Q3_K: y = (d * (scale - 32)) * (q - 4), q's third bit being bit e / 32 of hmask[e % 32] and the
// 16 six-bit scales packed in 12 bytes (low nibbles in bytes 0..7, top two bits in bytes 8..11).
void DecodeQ3_K(const Chunk& c) {
  const Tensor d = HalfField(c, 108);
  UnpackTwoBitPlanes(c, c.q, 32);
  const Tensor hmask = Field(c, 0, 32);
  const Tensor high = c.h.view({c.n, 8, 32});
  for (int64_t bit = 0; bit < 8; ++bit) ShiftMask(high.select(1, bit), hmask, bit, 1);
  c.q.bitwise_or_(c.h.mul_(4));
  c.values.copy_(c.q);
  c.values.sub_(4);

  const Tensor packed = Field(c, 96, 12);
  Tensor scale = torch::empty({c.n, 16}, packed.options());
  // Scale i < 8: the low nibble of byte i; scale i >= 8: the high nibble of byte i - 8.
  const Tensor low = scale.view({c.n, 2, 8});
  ShiftMask(low.select(1, 0), packed.narrow(1, 0, 8), 0, 0x0F);
  ShiftMask(low.select(1, 1), packed.narrow(1, 0, 8), 4, 0x0F);
  Tensor top = torch::empty({c.n, 16}, packed.options());
  // Scale 4*j + k: its top two bits at bits 2j of byte 8 + k.
  const Tensor top_by_shift = top.view({c.n, 4, 4});
  for (int64_t j = 0; j < 4; ++j) {
    ShiftMask(top_by_shift.select(1, j), packed.narrow(1, 8, 4), 2 * j, 3);
  }
  scale.bitwise_or_(top.mul_(16));
  top.reset();
  const Tensor scaled = scale.to(torch::kFloat).sub_(32).mul_(d);
  ScaleGroups(c, 16, scaled, Tensor());
}

// Q4_K/Q5_K's eight 6-bit scales and mins (12 bytes at offset 4), as float32 products
// d * scale and dmin * min [n, 8]. Groups 0..3 keep them in the low six bits of bytes 0..3 and
// 4..7; groups 4..7 keep their low four bits in the nibbles of bytes 8..11 and their top two bits
// in the top bits of bytes 0..3 (scale) and 4..7 (min).
void ScalesAndMinsK4(const Chunk& c, const Tensor& d, const Tensor& dmin, Tensor& scale,
                     Tensor& min) {
  const Tensor packed = Field(c, 4, 12);
  for (int which = 0; which < 2; ++which) {  // scales, then mins
    Tensor six = torch::empty({c.n, 8}, packed.options());
    const Tensor first = packed.narrow(1, 4 * which, 4);
    ShiftMask(six.narrow(1, 0, 4), first, 0, 63);
    ShiftMask(six.narrow(1, 4, 4), packed.narrow(1, 8, 4), 4 * which, 0x0F);
    six.narrow(1, 4, 4).bitwise_or_(first.bitwise_right_shift(6).mul_(16));
    (which == 0 ? scale : min) = six.to(torch::kFloat).mul_(which == 0 ? d : dmin);
  }
}

// Q4_K: y = (d * scale) * q - (dmin * min), eight groups of 32.
void DecodeQ4_K(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  const Tensor dmin = HalfField(c, 2);
  Tensor scale, min;
  ScalesAndMinsK4(c, d, dmin, scale, min);
  UnpackNibblePairs(c, 16);
  c.values.copy_(c.q);
  ScaleGroups(c, 32, scale, min);
}

// Q5_K: Q4_K plus a fifth bit, bit e / 32 of qh[e % 32].
void DecodeQ5_K(const Chunk& c) {
  const Tensor d = HalfField(c, 0);
  const Tensor dmin = HalfField(c, 2);
  Tensor scale, min;
  ScalesAndMinsK4(c, d, dmin, scale, min);
  UnpackNibblePairs(c, 48);
  const Tensor qh = Field(c, 16, 32);
  const Tensor high = c.h.view({c.n, 8, 32});
  for (int64_t bit = 0; bit < 8; ++bit) ShiftMask(high.select(1, bit), qh, bit, 1);
  c.q.bitwise_or_(c.h.mul_(16));
  c.values.copy_(c.q);
  ScaleGroups(c, 32, scale, min);
}

// Q6_K: y = (d * scale) * (q - 32), int8 scales per 16 elements. Element 128*h + 32*s + l has its
// low nibble in nibble s / 2 of ql[64*h + 32*(s % 2) + l] and its top two bits at bits 2s of
// qh[32*h + l].
void DecodeQ6_K(const Chunk& c) {
  const Tensor d = HalfField(c, 208);
  const Tensor ql = Field(c, 0, 128).view({c.n, 2, 2, 32});
  const Tensor qh = Field(c, 128, 64).view({c.n, 2, 32});
  const Tensor low = c.q.view({c.n, 2, 4, 32});
  const Tensor high = c.h.view({c.n, 2, 4, 32});
  for (int64_t s = 0; s < 4; ++s) {
    ShiftMask(low.select(2, s), ql.select(2, s % 2), 4 * (s / 2), 0x0F);
    ShiftMask(high.select(2, s), qh, 2 * s, 3);
  }
  c.q.bitwise_or_(c.h.mul_(16));
  c.values.copy_(c.q);
  c.values.sub_(32);
  const Tensor scale = Field(c, 192, 16).view(torch::kChar).to(torch::kFloat).mul_(d);
  ScaleGroups(c, 16, scale, Tensor());
}

void DecodeChunk(GgmlType type, const Chunk& c) {
  switch (type) {
    case GgmlType::kQ4_0:
      return DecodeQ4_0(c);
    case GgmlType::kQ4_1:
      return DecodeQ4_1(c);
    case GgmlType::kQ5_0:
      return DecodeQ5_0(c);
    case GgmlType::kQ5_1:
      return DecodeQ5_1(c);
    case GgmlType::kQ8_0:
      return DecodeQ8_0(c);
    case GgmlType::kQ2_K:
      return DecodeQ2_K(c);
    case GgmlType::kQ3_K:
      return DecodeQ3_K(c);
    case GgmlType::kQ4_K:
      return DecodeQ4_K(c);
    case GgmlType::kQ5_K:
      return DecodeQ5_K(c);
    case GgmlType::kQ6_K:
      return DecodeQ6_K(c);
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
      break;  // element types: converted whole by the caller
  }
}

// The torch dtype of a plain (one element per block) type; nullopt for block types.
std::optional<torch::ScalarType> ElementDtype(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return torch::kFloat;
    case GgmlType::kF16:
      return torch::kHalf;
    case GgmlType::kBF16:
      return torch::kBFloat16;
    default:
      return std::nullopt;
  }
}

}  // namespace

torch::Tensor DecodeGgmlBlocksAten(const torch::Tensor& bytes, GgmlType type,
                                   const std::vector<int64_t>& shape, torch::ScalarType compute) {
  CheckGgmlBytes(bytes, type, shape);
  const torch::Tensor flat = bytes.reshape({-1});  // a view of contiguous bytes
  if (const std::optional<torch::ScalarType> element = ElementDtype(type)) {
    // Widening is exact, so a direct conversion is the float32 value rounded once.
    return flat.view(*element).reshape(shape).to(compute, /*non_blocking=*/false, /*copy=*/true);
  }
  const int64_t block_size = GgmlBlockSize(type);
  const int64_t block_bytes = GgmlBlockBytes(type);
  const int64_t blocks = flat.numel() / block_bytes;
  const torch::Tensor all = flat.view({blocks, block_bytes});
  torch::Tensor out = torch::empty({blocks * block_size}, bytes.options().dtype(compute));
  const int64_t per_chunk = std::min(blocks, kGgmlAtenChunkElements / block_size);
  if (per_chunk == 0) return out.view(shape);
  const int64_t chunk_elements = per_chunk * block_size;
  // Reused by every chunk: the float32 values when the result is another dtype, and the quants.
  torch::Tensor staging;
  if (compute != torch::kFloat)
    staging = torch::empty({chunk_elements}, bytes.options().dtype(torch::kFloat));
  const torch::Tensor quants = torch::empty({2, chunk_elements}, bytes.options());
  for (int64_t first = 0; first < blocks; first += per_chunk) {
    Chunk chunk;
    chunk.n = std::min(per_chunk, blocks - first);
    const int64_t elements = chunk.n * block_size;
    const torch::Tensor target = out.narrow(0, first * block_size, elements);
    chunk.blocks = all.narrow(0, first, chunk.n);
    chunk.values =
        (staging.defined() ? staging.narrow(0, 0, elements) : target).view({chunk.n, block_size});
    chunk.q = quants[0].narrow(0, 0, elements).view({chunk.n, block_size});
    chunk.h = quants[1].narrow(0, 0, elements).view({chunk.n, block_size});
    DecodeChunk(type, chunk);
    if (staging.defined()) target.copy_(chunk.values.view({elements}));
  }
  return out.view(shape);
}

int64_t GgmlAtenDecodeTransientBytes(GgmlType type, int64_t numel, torch::ScalarType compute,
                                     torch::Device device) {
  if (ElementDtype(type)) return 0;
  const int64_t block_size = GgmlBlockSize(type);
  const int64_t chunk = std::min(numel, kGgmlAtenChunkElements / block_size * block_size);
  if (chunk <= 0) return 0;
  // The most scale tensors alive at once (Q4_K/Q5_K: d, dmin, the packed six-bit values, their
  // top-bit term, one float32 product, the earlier product, and a wrapped scalar operand).
  constexpr int64_t kScaleTensors = 8;
  int64_t bytes = AllocationBytes(2 * chunk, torch::kByte, device) +
                  kScaleTensors * AllocationBytes(chunk / 4, torch::kByte, device);
  if (compute != torch::kFloat) bytes += AllocationBytes(chunk, torch::kFloat, device);
  return bytes;
}

}  // namespace streamdit::engine
