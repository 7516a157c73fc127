// float8 tables and the saturating e4m3fn encoder, checked against the format definitions computed
// two other ways: float bit patterns assembled here, and a numpy bit-field decode / brute-force
// nearest-code search in tests/reference/checkpoint_reference.py.
#include "engine/checkpoint/fp8.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "engine/checkpoint/safetensors.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using testing_files::RunCheckpointReference;
using testing_files::ScratchDir;

float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint32_t BitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// e4m3fn by re-biasing the exponent field into a float32 bit pattern (exponent bias 7 -> 127,
// mantissa 3 -> 23 bits); subnormals are M * 2^-9, exact as M / 512.
float E4M3ByBitPattern(uint8_t code) {
  const uint32_t sign = (code >> 7) & 1;
  const uint32_t exponent = (code >> 3) & 0xF;
  const uint32_t mantissa = code & 0x7;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) / 512.0f;
    return sign ? -magnitude : magnitude;
  }
  return FloatFromBits((sign << 31) | ((exponent - 7 + 127) << 23) | (mantissa << 20));
}

// e5m2 is the high byte of an IEEE half: decode the half (code << 8) field by field.
float E5M2ViaHalf(uint8_t code) {
  const uint16_t half = static_cast<uint16_t>(code) << 8;
  const uint32_t sign = half >> 15;
  const uint32_t exponent = (half >> 10) & 0x1F;
  const uint32_t mantissa = half & 0x3FF;
  if (exponent == 0x1F) {
    return FloatFromBits((sign << 31) | (0xFFu << 23) | (mantissa << 13));  // inf or NaN
  }
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return FloatFromBits((sign << 31) | ((exponent - 15 + 127) << 23) | (mantissa << 13));
}

bool IsE4M3NaNCode(int code) { return (code & 0x7F) == 0x7F; }

// Same value including the sign of zero; NaN matches NaN.
void ExpectSameFloat(float actual, float expected, int code) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << "code 0x" << std::hex << code << " gave " << actual;
  } else {
    EXPECT_EQ(BitsOf(actual), BitsOf(expected))
        << "code 0x" << std::hex << code << ": " << actual << " vs " << expected;
  }
}

TEST(Fp8Tables, E4M3MatchesTheBitPatternDefinition) {
  const auto& table = Fp8E4M3Table();
  for (int code = 0; code < 256; ++code) {
    if (IsE4M3NaNCode(code)) {
      EXPECT_TRUE(std::isnan(table[code])) << code;
    } else {
      ExpectSameFloat(table[code], E4M3ByBitPattern(static_cast<uint8_t>(code)), code);
      EXPECT_TRUE(std::isfinite(table[code])) << "e4m3fn has no infinities: " << code;
    }
  }
  EXPECT_EQ(table[0x7E], 448.0f);
  EXPECT_EQ(table[0xFE], -448.0f);
  EXPECT_EQ(table[0x08], 0.015625f);             // min normal 2^-6
  EXPECT_EQ(table[0x01], std::ldexp(1.0f, -9));  // min subnormal
  EXPECT_EQ(table[0x38], 1.0f);
  EXPECT_TRUE(std::signbit(table[0x80]) && table[0x80] == 0.0f);
  EXPECT_EQ(table[0x77], 240.0f);  // E=14: 2^7 * 1.875, an exponent that IEEE would not reserve
}

TEST(Fp8Tables, E5M2MatchesTheHalfPrecisionDefinition) {
  const auto& table = Fp8E5M2Table();
  for (int code = 0; code < 256; ++code) {
    ExpectSameFloat(table[code], E5M2ViaHalf(static_cast<uint8_t>(code)), code);
  }
  EXPECT_EQ(table[0x7B], 57344.0f);
  EXPECT_EQ(table[0x7C], std::numeric_limits<float>::infinity());
  EXPECT_EQ(table[0xFC], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(table[0x7D]) && std::isnan(table[0x7F]) && std::isnan(table[0xFE]));
  EXPECT_EQ(table[0x01], std::ldexp(1.0f, -16));
}

TEST(Fp8Tables, MatchTheNumpyBitFieldDecode) {
  ScratchDir dir;
  const std::string path = dir.File("fp8_decode.safetensors");
  RunCheckpointReference("fp8_decode " + path);
  auto file = SafetensorsFile::Open(path);
  for (const auto& [name, table] :
       {std::pair{"e4m3", &Fp8E4M3Table()}, std::pair{"e5m2", &Fp8E5M2Table()}}) {
    SCOPED_TRACE(name);
    const TensorInfo* info = file->Find(name);
    ASSERT_NE(info, nullptr);
    ASSERT_EQ(info->dtype, DType::kF64);
    ASSERT_EQ(info->numel(), 256);
    std::vector<double> reference(256);
    std::memcpy(reference.data(), file->Data(*info), info->nbytes());
    for (int code = 0; code < 256; ++code) {
      // Every float8 value is exact in float32, so the float64 reference converts exactly.
      ExpectSameFloat((*table)[code], static_cast<float>(reference[code]), code);
    }
  }
}

TEST(Fp8Decode, ArraysDecodeThroughTheTables) {
  std::vector<uint8_t> codes(1000);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 37 + 5);
  std::vector<float> e4m3(codes.size()), e5m2(codes.size());
  DecodeFp8E4M3(codes.data(), e4m3.data(), codes.size());
  DecodeFp8E5M2(codes.data(), e5m2.data(), codes.size());
  for (std::size_t i = 0; i < codes.size(); ++i) {
    ExpectSameFloat(e4m3[i], Fp8E4M3Table()[codes[i]], codes[i]);
    ExpectSameFloat(e5m2[i], Fp8E5M2Table()[codes[i]], codes[i]);
  }
}

TEST(Fp8Encode, EveryFiniteCodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    if (IsE4M3NaNCode(code)) continue;
    EXPECT_EQ(EncodeFp8E4M3Saturating(Fp8E4M3Table()[code]), code) << Fp8E4M3Table()[code];
  }
}

TEST(Fp8Encode, MidpointsRoundToTheEvenCode) {
  const auto& table = Fp8E4M3Table();
  for (int code = 0; code < 0x7E; ++code) {
    const float low = table[code];
    const float high = table[code + 1];
    const float midpoint = (low + high) / 2;  // 5 significant bits: exact in float
    ASSERT_EQ(midpoint - low, high - midpoint);
    const int even = code % 2 == 0 ? code : code + 1;
    SCOPED_TRACE(midpoint);
    EXPECT_EQ(EncodeFp8E4M3Saturating(midpoint), even);
    EXPECT_EQ(EncodeFp8E4M3Saturating(-midpoint), even | 0x80);
    EXPECT_EQ(EncodeFp8E4M3Saturating(std::nextafter(midpoint, 0.0f)), code);
    EXPECT_EQ(EncodeFp8E4M3Saturating(std::nextafter(midpoint, 1000.0f)), code + 1);
  }
  EXPECT_EQ(EncodeFp8E4M3Saturating(std::ldexp(1.0f, -10)), 0x00);  // half the min subnormal
  EXPECT_EQ(EncodeFp8E4M3Saturating(std::ldexp(3.0f, -10)), 0x02);  // 1.5 subnormal units
  EXPECT_EQ(EncodeFp8E4M3Saturating(-std::ldexp(1.0f, -11)), 0x80);
  EXPECT_EQ(EncodeFp8E4M3Saturating(FLT_TRUE_MIN), 0x00);
}

TEST(Fp8Encode, SaturatesAtPlusMinus448) {
  const float large[] = {448.0f,
                         448.5f,
                         456.0f,
                         463.99f,
                         464.0f,
                         479.999f,
                         480.0f,
                         512.0f,
                         1e6f,
                         FLT_MAX,
                         std::numeric_limits<float>::infinity()};
  for (float value : large) {
    EXPECT_EQ(EncodeFp8E4M3Saturating(value), 0x7E) << value;
    EXPECT_EQ(EncodeFp8E4M3Saturating(-value), 0xFE) << value;
  }
  EXPECT_EQ(EncodeFp8E4M3Saturating(440.0f), 0x7E);  // the midpoint of 416 and 448 goes even
  EXPECT_EQ(EncodeFp8E4M3Saturating(431.99f), 0x7D);
}

TEST(Fp8Encode, NaNEncodesTo0x7F) {
  EXPECT_EQ(EncodeFp8E4M3Saturating(std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(EncodeFp8E4M3Saturating(-std::numeric_limits<float>::quiet_NaN()), 0x7F);
  EXPECT_EQ(EncodeFp8E4M3Saturating(FloatFromBits(0x7F800001u)), 0x7F);  // signalling
}

// Inputs spread over every binade: float bit patterns at a prime stride, every bf16 pattern, and
// the e4m3 midpoints with their neighbours.
std::vector<float> SweepInputs() {
  std::vector<float> inputs;
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFu; bits += 65521) {
    inputs.push_back(FloatFromBits(static_cast<uint32_t>(bits)));
  }
  for (uint32_t high = 0; high <= 0xFFFF; ++high) inputs.push_back(FloatFromBits(high << 16));
  const auto& table = Fp8E4M3Table();
  for (int code = 0; code < 0x7E; ++code) {
    const float midpoint = (table[code] + table[code + 1]) / 2;
    for (float value : {midpoint, std::nextafter(midpoint, 0.0f), std::nextafter(midpoint, 1e9f)}) {
      inputs.push_back(value);
      inputs.push_back(-value);
    }
  }
  return inputs;
}

TEST(Fp8Encode, FiniteInputsNeverBecomeNaNAndLandOnANeighbour) {
  const auto& table = Fp8E4M3Table();
  for (float value : SweepInputs()) {
    if (!std::isfinite(value)) continue;
    const uint8_t code = EncodeFp8E4M3Saturating(value);
    ASSERT_FALSE(IsE4M3NaNCode(code)) << value;
    const float decoded = table[code];
    if (std::fabs(value) >= 448.0f) {
      EXPECT_EQ(std::fabs(decoded), 448.0f) << value;
    } else {
      // No finite code is nearer than the chosen one.
      const double error = std::fabs(static_cast<double>(decoded) - value);
      for (int other = 0; other < 256; ++other) {
        if (IsE4M3NaNCode(other)) continue;
        ASSERT_LE(error, std::fabs(static_cast<double>(table[other]) - value))
            << value << " -> 0x" << std::hex << int{code} << " but 0x" << other << " is nearer";
      }
    }
    EXPECT_EQ(std::signbit(decoded), std::signbit(value)) << value;
  }
}

TEST(Fp8Encode, MatchesTheNumpyBruteForceReference) {
  ScratchDir dir;
  const std::vector<float> inputs = SweepInputs();  // includes infinities and NaNs
  SafetensorsWriter writer;
  writer.Add("x", DType::kF32, {static_cast<int64_t>(inputs.size())}, inputs.data(),
             inputs.size() * sizeof(float));
  writer.Write(dir.File("inputs.safetensors"));
  RunCheckpointReference("fp8_encode " + dir.File("inputs.safetensors") + " " +
                         dir.File("codes.safetensors"));

  auto file = SafetensorsFile::Open(dir.File("codes.safetensors"));
  const TensorInfo* codes = file->Find("code");
  ASSERT_NE(codes, nullptr);
  ASSERT_EQ(codes->dtype, DType::kU8);
  ASSERT_EQ(codes->nbytes(), inputs.size());
  const uint8_t* expected = file->Data(*codes);
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const uint8_t actual = EncodeFp8E4M3Saturating(inputs[i]);
    if (actual != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << inputs[i] << " (bits 0x" << std::hex << BitsOf(inputs[i]) << ") -> 0x"
                    << int{actual} << ", reference 0x" << int{expected[i]};
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

}  // namespace
}  // namespace streamdit::engine
