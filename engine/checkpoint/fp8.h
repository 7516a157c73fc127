// float8 decoding and encoding. libtorch 1.13 has no float8 type, so fp8 bytes are decoded through
// 256-entry tables built from the format definitions (flux-spec.md §6).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace streamdit::engine {

// Value of every e4m3fn code: 1 sign, 4 exponent (bias 7), 3 mantissa; no infinities; 0x7F/0xFF
// NaN.
const std::array<float, 256>& Fp8E4M3Table();
// Value of every e5m2 code: 1 sign, 5 exponent (bias 15), 2 mantissa; IEEE infinities and NaNs.
const std::array<float, 256>& Fp8E5M2Table();

// Rounds to the nearest e4m3fn code (ties to even), saturating at +-448: storage never makes NaN
// from a finite value. NaN input gives 0x7F.
uint8_t EncodeFp8E4M3Saturating(float value);

void DecodeFp8E4M3(const uint8_t* in, float* out, std::size_t count);
void DecodeFp8E5M2(const uint8_t* in, float* out, std::size_t count);

}  // namespace streamdit::engine
