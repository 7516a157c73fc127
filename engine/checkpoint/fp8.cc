#include "engine/checkpoint/fp8.h"

#include <cmath>
#include <limits>

namespace streamdit::engine {
namespace {

// Value of a float8 code with `exponent_bits` exponent bits and `mantissa_bits` mantissa bits,
// straight from the sign/exponent/mantissa definition. The top exponent is special only when the
// format has IEEE infinities (e5m2); e4m3fn uses it for normal numbers except all-ones mantissa.
float DecodeFp8(uint8_t code, int exponent_bits, int mantissa_bits, bool ieee_specials) {
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const int max_exponent = (1 << exponent_bits) - 1;
  const int mantissa_one = 1 << mantissa_bits;
  const bool negative = (code & 0x80) != 0;
  const int exponent = (code >> mantissa_bits) & max_exponent;
  const int mantissa = code & (mantissa_one - 1);

  float magnitude;
  if (ieee_specials && exponent == max_exponent) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  } else if (!ieee_specials && exponent == max_exponent && mantissa == mantissa_one - 1) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), 1 - bias - mantissa_bits);
  } else {
    magnitude =
        std::ldexp(static_cast<float>(mantissa_one + mantissa), exponent - bias - mantissa_bits);
  }
  return negative ? -magnitude : magnitude;
}

std::array<float, 256> BuildTable(int exponent_bits, int mantissa_bits, bool ieee_specials) {
  std::array<float, 256> table{};
  for (int code = 0; code < 256; ++code) {
    table[code] =
        DecodeFp8(static_cast<uint8_t>(code), exponent_bits, mantissa_bits, ieee_specials);
  }
  return table;
}

// Rounds a non-negative value (small enough to be exact in float) to the nearest integer, ties to
// even, independent of the floating-point environment's rounding mode.
float RoundHalfToEven(float value) {
  const float floor = std::floor(value);
  const float fraction = value - floor;
  if (fraction > 0.5f) return floor + 1.0f;
  if (fraction < 0.5f) return floor;
  return std::fmod(floor, 2.0f) == 0.0f ? floor : floor + 1.0f;
}

constexpr float kE4M3MaxFinite = 448.0f;
constexpr uint8_t kE4M3MaxFiniteCode = 0x7E;
constexpr uint8_t kE4M3NaNCode = 0x7F;
constexpr int kE4M3Bias = 7;
constexpr int kE4M3MantissaBits = 3;
constexpr int kE4M3MinNormalExponent = 1 - kE4M3Bias;  // 2^-6

}  // namespace

const std::array<float, 256>& Fp8E4M3Table() {
  static const std::array<float, 256> table = BuildTable(4, 3, /*ieee_specials=*/false);
  return table;
}

const std::array<float, 256>& Fp8E5M2Table() {
  static const std::array<float, 256> table = BuildTable(5, 2, /*ieee_specials=*/true);
  return table;
}

uint8_t EncodeFp8E4M3Saturating(float value) {
  if (std::isnan(value)) return kE4M3NaNCode;
  const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
  const float magnitude = std::fabs(value);
  // Saturate instead of producing NaN: values in [448, 480) would round to 448 anyway, and larger
  // ones (including infinity) clamp to the largest finite code.
  if (magnitude >= kE4M3MaxFinite) return sign | kE4M3MaxFiniteCode;

  int frexp_exponent;
  std::frexp(magnitude, &frexp_exponent);  // magnitude = f * 2^frexp_exponent, f in [0.5, 1)
  const int unbiased = frexp_exponent - 1;
  if (magnitude == 0.0f || unbiased < kE4M3MinNormalExponent) {
    // Subnormal range: a multiple of 2^-9. Rounding up to 8 lands exactly on the min normal code.
    const float units =
        RoundHalfToEven(std::ldexp(magnitude, kE4M3MantissaBits - kE4M3MinNormalExponent));
    return sign | static_cast<uint8_t>(units);
  }
  // Normal range: significand in [8, 16) units of 2^(unbiased - 3).
  float significand = RoundHalfToEven(std::ldexp(magnitude, kE4M3MantissaBits - unbiased));
  int exponent = unbiased;
  if (significand == 16.0f) {  // rounded up into the next binade
    significand = 8.0f;
    ++exponent;
  }
  const int code =
      ((exponent + kE4M3Bias) << kE4M3MantissaBits) | (static_cast<int>(significand) - 8);
  return sign | static_cast<uint8_t>(code);
}

void DecodeFp8E4M3(const uint8_t* in, float* out, std::size_t count) {
  const std::array<float, 256>& table = Fp8E4M3Table();
  for (std::size_t i = 0; i < count; ++i) out[i] = table[in[i]];
}

void DecodeFp8E5M2(const uint8_t* in, float* out, std::size_t count) {
  const std::array<float, 256>& table = Fp8E5M2Table();
  for (std::size_t i = 0; i < count; ++i) out[i] = table[in[i]];
}

}  // namespace streamdit::engine
