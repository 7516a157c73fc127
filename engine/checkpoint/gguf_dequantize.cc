// One decoder per block type. Each writes its block's elements in storage order and evaluates the
// same float32 expression as ggml-quants.c's dequantize_row_* (and gguf-py's numpy port): scale
// products are rounded to float32 before they multiply the quant, and a "+ m" / "- m" is a
// separate rounded step. engine/CMakeLists.txt compiles this file with -ffp-contract=off so that
// no build flag (-march with FMA) fuses a product and a sum into one rounding.
//
// Notation: d, m, dmin are fp16 scales; QK = 32, QK_K = 256 elements per (super-)block.
#include "engine/checkpoint/gguf_dequantize.h"

#include <cstring>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

float LoadHalf(const uint8_t* p) { return HalfToFloat(Load16(p)); }

// Q4_0 (18 bytes): d, qs[16]. Element j is the low nibble of qs[j], element j + 16 its high
// nibble; y = (q - 8) * d.
void DecodeQ4_0(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  const uint8_t* qs = block + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0F) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

// Q4_1 (20 bytes): d, m, qs[16] as Q4_0; y = q * d + m.
void DecodeQ4_1(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  const float m = LoadHalf(block + 2);
  const uint8_t* qs = block + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0F) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// The 5-bit quant of element j (0..31) of a Q5 block: its nibble (as Q4) plus bit j of qh.
int Q5Quant(const uint8_t* qs, uint32_t qh, int j) {
  const int nibble = j < 16 ? (qs[j] & 0x0F) : (qs[j - 16] >> 4);
  return nibble | static_cast<int>(((qh >> j) & 1u) << 4);
}

// Q5_0 (22 bytes): d, qh (u32: bit j is element j's fifth bit), qs[16]; y = (q - 16) * d.
void DecodeQ5_0(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  const uint32_t qh = Load32(block + 2);
  const uint8_t* qs = block + 6;
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(Q5Quant(qs, qh, j) - 16) * d;
}

// Q5_1 (24 bytes): d, m, qh, qs[16]; y = q * d + m.
void DecodeQ5_1(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  const float m = LoadHalf(block + 2);
  const uint32_t qh = Load32(block + 4);
  const uint8_t* qs = block + 8;
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(Q5Quant(qs, qh, j)) * d + m;
}

// Q8_0 (34 bytes): d, qs[32] int8; y = q * d.
void DecodeQ8_0(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(block[2 + j])) * d;
}

// Q2_K (84 bytes): scales[16], qs[64], d, dmin. 16 groups of 16 elements; scales[g] holds the
// group's 4-bit scale (low nibble) and 4-bit min (high nibble). Each half (128 elements) reads 32
// bytes of qs four times, two bits at a time: element 128*h + 32*s + l is bits 2s..2s+1 of
// qs[32*h + l]. y = (d * scale) * q - (dmin * min).
void DecodeQ2_K(const uint8_t* block, float* y) {
  const uint8_t* scales = block;
  const uint8_t* qs = block + 16;
  const float d = LoadHalf(block + 80);
  const float dmin = LoadHalf(block + 82);
  // Loops over 16 consecutive elements of one group, which the compiler vectorizes; the
  // arithmetic per element is unchanged.
  for (int group = 0; group < 16; ++group) {
    const int h = group / 8, s = (group / 2) % 4, first = 16 * (group % 2);
    const uint8_t sc = scales[group];
    const float dl = d * static_cast<float>(sc & 0x0F);
    const float ml = dmin * static_cast<float>(sc >> 4);
    const uint8_t* q = qs + 32 * h + first;
    float* out = y + 16 * group;
    for (int l = 0; l < 16; ++l) out[l] = dl * static_cast<float>((q[l] >> (2 * s)) & 3) - ml;
  }
}

// Q3_K (110 bytes): hmask[32], qs[64], scales[12], d. Quants are 2 low bits laid out as Q2_K's
// plus a high bit: bit (e / 32) of hmask[e % 32]; a clear high bit subtracts 4 (q in -4..3).
// 16 signed 6-bit scales (one per 16 elements): scale i has its low nibble in scales[i] (i < 8,
// low nibble) or scales[i - 8] (high nibble), and its top two bits at bits 2*(i/4) of
// scales[8 + i%4]; stored with a bias of 32. y = (d * scale) * q.
void DecodeQ3_K(const uint8_t* block, float* y) {
  const uint8_t* hmask = block;
  const uint8_t* qs = block + 32;
  const uint8_t* packed = block + 96;
  const float d = LoadHalf(block + 108);
  int scale[16];
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (packed[i] & 0x0F) : (packed[i - 8] >> 4);
    const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    scale[i] = (low | (high << 4)) - 32;
  }
  for (int group = 0; group < 16; ++group) {
    const int h = group / 8, s = (group / 2) % 4, first = 16 * (group % 2);
    const float dl = d * static_cast<float>(scale[group]);
    const uint8_t* q = qs + 32 * h + first;
    const uint8_t* mask = hmask + first;
    const int bit = group / 2;  // e / 32
    float* out = y + 16 * group;
    for (int l = 0; l < 16; ++l) {
      const int low = (q[l] >> (2 * s)) & 3;
      const int high = (mask[l] >> bit) & 1;
      out[l] = dl * static_cast<float>(low - 4 + 4 * high);
    }
  }
}

// The eight 6-bit scales and mins of a Q4_K/Q5_K block (ggml's get_scale_min_k4), 12 bytes:
// groups 0..3 keep their scale and min in the low six bits of bytes 0..3 and 4..7; groups 4..7
// keep their low four bits in the nibbles of bytes 8..11 and their top two bits in the top bits
// of bytes 0..3 (scale) and 4..7 (min).
void UnpackScaleMinK4(const uint8_t* packed, int* scale, int* min) {
  for (int j = 0; j < 4; ++j) {
    scale[j] = packed[j] & 63;
    min[j] = packed[j + 4] & 63;
    scale[j + 4] = (packed[j + 8] & 0x0F) | ((packed[j] >> 6) << 4);
    min[j + 4] = (packed[j + 8] >> 4) | ((packed[j + 4] >> 6) << 4);
  }
}

// Q4_K (144 bytes): d, dmin, scales[12], qs[128]. Eight groups of 32: element 64*c + 32*h + l is
// nibble h of qs[32*c + l]. y = (d * scale) * q - (dmin * min).
void DecodeQ4_K(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  const float dmin = LoadHalf(block + 2);
  const uint8_t* qs = block + 16;
  int scale[8], min[8];
  UnpackScaleMinK4(block + 4, scale, min);
  for (int g = 0; g < 8; ++g) {
    const int c = g / 2, h = g % 2;
    const float dl = d * static_cast<float>(scale[g]);
    const float ml = dmin * static_cast<float>(min[g]);
    const uint8_t* q = qs + 32 * c;
    float* out = y + 32 * g;
    for (int l = 0; l < 32; ++l) out[l] = dl * static_cast<float>((q[l] >> (4 * h)) & 0x0F) - ml;
  }
}

// Q5_K (176 bytes): d, dmin, scales[12], qh[32], qs[128]: Q4_K plus a fifth bit, bit (e / 32) of
// qh[e % 32].
void DecodeQ5_K(const uint8_t* block, float* y) {
  const float d = LoadHalf(block);
  const float dmin = LoadHalf(block + 2);
  const uint8_t* qh = block + 16;
  const uint8_t* qs = block + 48;
  int scale[8], min[8];
  UnpackScaleMinK4(block + 4, scale, min);
  for (int g = 0; g < 8; ++g) {
    const int c = g / 2, h = g % 2;
    const float dl = d * static_cast<float>(scale[g]);
    const float ml = dmin * static_cast<float>(min[g]);
    const uint8_t* low = qs + 32 * c;
    float* out = y + 32 * g;
    for (int l = 0; l < 32; ++l) {
      const int q = ((low[l] >> (4 * h)) & 0x0F) | (((qh[l] >> g) & 1) << 4);
      out[l] = dl * static_cast<float>(q) - ml;
    }
  }
}

// Q6_K (210 bytes): ql[128], qh[64], scales[16] int8, d. Per half h (128 elements) and quarter s
// (32 elements): the low nibble comes from ql[64*h + 32*(s%2) + l] (low nibble for s < 2, high
// for s >= 2), the top two bits from bits 2s..2s+1 of qh[32*h + l]; q has a bias of 32. One scale
// per 16 elements. y = (d * scale) * q.
void DecodeQ6_K(const uint8_t* block, float* y) {
  const uint8_t* ql = block;
  const uint8_t* qh = block + 128;
  const uint8_t* scales = block + 192;
  const float d = LoadHalf(block + 208);
  for (int group = 0; group < 16; ++group) {
    const int h = group / 8, s = (group / 2) % 4, first = 16 * (group % 2);
    const float dl = d * static_cast<float>(static_cast<int8_t>(scales[group]));
    const uint8_t* low = ql + 64 * h + 32 * (s % 2) + first;
    const uint8_t* high = qh + 32 * h + first;
    float* out = y + 16 * group;
    for (int l = 0; l < 16; ++l) {
      const int q = ((low[l] >> (4 * (s / 2))) & 0x0F) | (((high[l] >> (2 * s)) & 3) << 4);
      out[l] = dl * static_cast<float>(q - 32);
    }
  }
}

void DecodeF32(const uint8_t* block, float* y) { *y = FloatFromBits(Load32(block)); }
void DecodeF16(const uint8_t* block, float* y) { *y = LoadHalf(block); }
void DecodeBF16(const uint8_t* block, float* y) { *y = BFloat16ToFloat(Load16(block)); }

// The per-block loop, instantiated per decoder so that the type switch is outside it.
template <void (*Decode)(const uint8_t*, float*)>
void DecodeAll(const uint8_t* blocks, int64_t count, int64_t block_bytes, int64_t block_size,
               float* out) {
  for (int64_t i = 0; i < count; ++i) Decode(blocks + i * block_bytes, out + i * block_size);
}

}  // namespace

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1Fu;
  const uint32_t mantissa = bits & 0x3FFu;
  if (exponent == 0x1F) {
    // Infinity, or NaN with its payload moved to the top of float's mantissa (numpy and ggml's
    // software conversion do the same; a signalling NaN stays signalling).
    return FloatFromBits(sign | 0x7F800000u | (mantissa << 13));
  }
  if (exponent == 0) {
    // Zero or subnormal: mantissa * 2^-24, exact in float32 (whose normal range reaches 2^-126).
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -magnitude : magnitude;
  }
  // Normal: re-bias the exponent from 15 to 127.
  return FloatFromBits(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

float BFloat16ToFloat(uint16_t bits) { return FloatFromBits(static_cast<uint32_t>(bits) << 16); }

void DequantizeBlocks(GgmlType type, const uint8_t* blocks, int64_t block_count, float* out) {
  if (block_count < 0) {
    throw InvalidArgument("DequantizeBlocks: negative block count " + std::to_string(block_count));
  }
  const int64_t bytes = GgmlBlockBytes(type);
  const int64_t size = GgmlBlockSize(type);
  switch (type) {
    case GgmlType::kF32:
      return DecodeAll<DecodeF32>(blocks, block_count, bytes, size, out);
    case GgmlType::kF16:
      return DecodeAll<DecodeF16>(blocks, block_count, bytes, size, out);
    case GgmlType::kBF16:
      return DecodeAll<DecodeBF16>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ4_0:
      return DecodeAll<DecodeQ4_0>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ4_1:
      return DecodeAll<DecodeQ4_1>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ5_0:
      return DecodeAll<DecodeQ5_0>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ5_1:
      return DecodeAll<DecodeQ5_1>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ8_0:
      return DecodeAll<DecodeQ8_0>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ2_K:
      return DecodeAll<DecodeQ2_K>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ3_K:
      return DecodeAll<DecodeQ3_K>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ4_K:
      return DecodeAll<DecodeQ4_K>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ5_K:
      return DecodeAll<DecodeQ5_K>(blocks, block_count, bytes, size, out);
    case GgmlType::kQ6_K:
      return DecodeAll<DecodeQ6_K>(blocks, block_count, bytes, size, out);
  }
  throw Internal("DequantizeBlocks: no decoder for GGML type " +
                 std::to_string(static_cast<uint32_t>(type)));
}

std::vector<float> DequantizeBlocks(GgmlType type, const uint8_t* blocks, int64_t block_count) {
  if (block_count < 0) {
    throw InvalidArgument("DequantizeBlocks: negative block count " + std::to_string(block_count));
  }
  std::vector<float> out(static_cast<std::size_t>(block_count * GgmlBlockSize(type)));
  DequantizeBlocks(type, blocks, block_count, out.data());
  return out;
}

}  // namespace streamdit::engine
