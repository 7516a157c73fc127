// GGML block types and dequantizers: the fp16/bf16 widening checked against its definition for
// every bit pattern, a few blocks decoded by hand, and every type bit-exact against gguf-py's
// numpy dequantizers (tests/reference/gguf_reference.py) on 10^5 random blocks whose fp16 scales
// include the extremes (max/min normal, subnormals, signed zeros, infinities, NaNs).
#include "engine/checkpoint/gguf_dequantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "engine/checkpoint/gguf_types.h"
#include "tests/support/file_bytes.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

using test_support::ScratchDir;

uint32_t BitsOf(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// binary16 from its definition in double arithmetic: (-1)^s * 2^(e-15) * (1 + m/1024) for normal
// numbers, 2^-14 * m/1024 for subnormals.
double HalfByDefinition(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0) return sign * std::ldexp(mantissa / 1024.0, -14);
  return sign * std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
}

TEST(GgufHalf, EveryBitPatternWidensExactly) {
  for (uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
    const float value = HalfToFloat(static_cast<uint16_t>(bits));
    const int exponent = (bits >> 10) & 0x1F;
    const uint32_t mantissa = bits & 0x3FF;
    if (exponent == 0x1F) {
      // Infinity, or a NaN whose payload (and so its quiet bit) is kept.
      EXPECT_EQ(BitsOf(value), ((bits & 0x8000u) << 16) | 0x7F800000u | (mantissa << 13))
          << std::hex << bits;
      continue;
    }
    EXPECT_EQ(static_cast<double>(value), HalfByDefinition(static_cast<uint16_t>(bits)))
        << std::hex << bits;
    EXPECT_EQ(std::signbit(value), (bits & 0x8000) != 0) << std::hex << bits;  // -0.0 too
  }
}

TEST(GgufHalf, KnownValues) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(HalfToFloat(0xFBFF), -65504.0f);
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // min normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));  // min subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(BitsOf(HalfToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(HalfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7C01)));
}

TEST(GgufHalf, BFloat16IsTheTopHalfOfAFloat) {
  for (uint32_t bits = 0; bits <= 0xFFFF; bits += 7) {
    EXPECT_EQ(BitsOf(BFloat16ToFloat(static_cast<uint16_t>(bits))), bits << 16) << bits;
  }
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
}

TEST(GgmlTypes, IdsNamesAndGeometry) {
  EXPECT_EQ(SupportedGgmlTypes().size(), 13u);
  EXPECT_EQ(FindGgmlType(0), GgmlType::kF32);
  EXPECT_EQ(FindGgmlType(30), GgmlType::kBF16);
  EXPECT_EQ(FindGgmlType(14), GgmlType::kQ6_K);
  EXPECT_EQ(GgmlTypeName(GgmlType::kQ4_K), "Q4_K");
  EXPECT_EQ(GgmlBlockSize(GgmlType::kQ5_1), 32);
  EXPECT_EQ(GgmlBlockBytes(GgmlType::kQ5_1), 24);
  EXPECT_EQ(GgmlBlockSize(GgmlType::kQ3_K), 256);
  EXPECT_EQ(GgmlBlockBytes(GgmlType::kQ3_K), 110);
  EXPECT_EQ(GgmlTypeFromId(8), GgmlType::kQ8_0);
}

TEST(GgmlTypes, UnknownAndUnsupportedIdsAreNamed) {
  EXPECT_FALSE(FindGgmlType(16).has_value());
  EXPECT_FALSE(FindGgmlType(99).has_value());
  EXPECT_INVALID_ARGUMENT(GgmlTypeFromId(99));
  const std::string unknown = UnsupportedGgmlTypeMessage(99);
  EXPECT_NE(unknown.find("unknown GGML type id 99"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("Q4_K"), std::string::npos) << unknown;  // lists what is supported
  const std::string iq = UnsupportedGgmlTypeMessage(16);
  EXPECT_NE(iq.find("16 (IQ2_XXS) is not supported"), std::string::npos) << iq;
  try {
    GgmlTypeFromId(4000000000u);
    ADD_FAILURE() << "no error";
  } catch (const StatusError& error) {
    EXPECT_NE(std::string(error.what()).find("4000000000"), std::string::npos) << error.what();
  }
}

TEST(GgmlTypes, TensorBytes) {
  EXPECT_EQ(GgmlTensorBytes(GgmlType::kF32, {3, 2}), 24u);
  EXPECT_EQ(GgmlTensorBytes(GgmlType::kF32, {}), 4u);  // n_dims 0: one element
  EXPECT_EQ(GgmlTensorBytes(GgmlType::kQ4_0, {64, 3}), 6u * 18);
  EXPECT_EQ(GgmlTensorBytes(GgmlType::kQ6_K, {3072, 3072}), 3072u * 12 * 210);
  EXPECT_EQ(GgmlTensorBytes(GgmlType::kQ8_0, {0, 5}), 0u);
  EXPECT_INVALID_ARGUMENT(GgmlTensorBytes(GgmlType::kQ4_0, {33, 2}));  // row not a block multiple
  EXPECT_INVALID_ARGUMENT(GgmlTensorBytes(GgmlType::kQ4_K, {}));       // one element, 256 a block
  EXPECT_INVALID_ARGUMENT(GgmlTensorBytes(GgmlType::kF32, {-1}));
  EXPECT_INVALID_ARGUMENT(GgmlTensorBytes(GgmlType::kF16, {1ll << 32, 1ll << 32, 4}));  // numel
  EXPECT_INVALID_ARGUMENT(GgmlTensorBytes(GgmlType::kF32, {1ll << 31, 1ll << 31}));     // bytes
  try {
    GgmlTensorBytes(GgmlType::kQ4_0, {33, 2});
  } catch (const StatusError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("Q4_0"), std::string::npos) << message;
    EXPECT_NE(message.find("row of 33 elements is not a multiple of the block size 32"),
              std::string::npos)
        << message;
  }
}

TEST(GgufDequantize, HandDecodedBlocks) {
  // Q8_0: d = 0.5 (fp16 0x3800), q = -16 .. 15.
  std::vector<uint8_t> q8 = {0x00, 0x38};
  for (int i = 0; i < 32; ++i) q8.push_back(static_cast<uint8_t>(i - 16));
  const std::vector<float> y8 = DequantizeBlocks(GgmlType::kQ8_0, q8.data(), 1);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y8[i], 0.5f * static_cast<float>(i - 16)) << i;

  // Q4_0: d = 2 (0x4000); byte j = 0xF0 | j: low nibbles j (elements 0..15), high nibbles 15.
  std::vector<uint8_t> q4 = {0x00, 0x40};
  for (int j = 0; j < 16; ++j) q4.push_back(static_cast<uint8_t>(0xF0 | j));
  const std::vector<float> y4 = DequantizeBlocks(GgmlType::kQ4_0, q4.data(), 1);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y4[j], 2.0f * static_cast<float>(j - 8)) << j;
    EXPECT_EQ(y4[j + 16], 14.0f) << j;
  }

  // Q4_1: d = 1, m = -0.5: y = q - 0.5.
  std::vector<uint8_t> q41 = {0x00, 0x3C, 0x00, 0xB8};
  for (int j = 0; j < 16; ++j) q41.push_back(static_cast<uint8_t>(j));
  const std::vector<float> y41 = DequantizeBlocks(GgmlType::kQ4_1, q41.data(), 1);
  EXPECT_EQ(y41[3], 2.5f);
  EXPECT_EQ(y41[16], -0.5f);

  // Q5_0: element j's fifth bit is bit j of qh; y = (q - 16) * d with d = 1.
  std::vector<uint8_t> q5 = {0x00, 0x3C, 0x01, 0x00, 0x01, 0x80};  // bits 0, 16, 31
  for (int j = 0; j < 16; ++j) q5.push_back(0x11);                 // nibbles 1
  const std::vector<float> y5 = DequantizeBlocks(GgmlType::kQ5_0, q5.data(), 1);
  EXPECT_EQ(y5[0], 1.0f);    // 17 - 16
  EXPECT_EQ(y5[1], -15.0f);  // 1 - 16
  EXPECT_EQ(y5[16], 1.0f);
  EXPECT_EQ(y5[31], 1.0f);
  EXPECT_EQ(y5[30], -15.0f);
}

TEST(GgufDequantize, InputNeedNotBeAligned) {
  std::vector<uint8_t> bytes(1 + 3 * 144);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 37 + 11);
  for (int b = 0; b < 3; ++b) {  // tame scales: d = 2^-10, dmin = 2^-12 (fp16 0x1400, 0x0C00)
    bytes[1 + 144 * b] = 0x00, bytes[2 + 144 * b] = 0x14;
    bytes[3 + 144 * b] = 0x00, bytes[4 + 144 * b] = 0x0C;
  }
  std::vector<uint8_t> aligned(bytes.begin() + 1, bytes.end());
  const std::vector<float> expected = DequantizeBlocks(GgmlType::kQ4_K, aligned.data(), 3);
  const std::vector<float> actual = DequantizeBlocks(GgmlType::kQ4_K, bytes.data() + 1, 3);
  ASSERT_EQ(actual.size(), 3u * 256);
  EXPECT_EQ(std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(float)), 0);
  EXPECT_INVALID_ARGUMENT(DequantizeBlocks(GgmlType::kQ4_K, aligned.data(), -1));
  EXPECT_TRUE(DequantizeBlocks(GgmlType::kQ4_K, nullptr, 0).empty());
}

// --- bit-exact against gguf-py ---------------------------------------------------------------

constexpr int64_t kReferenceBlocks = 100000;

class GgufDequantizeReference : public ::testing::TestWithParam<GgmlType> {};

TEST_P(GgufDequantizeReference, BitExactWithGguf) {
  const GgmlType type = GetParam();
  const std::string name(GgmlTypeName(type));
  ScratchDir dir("gguf_dequantize");
  const std::string printed = test_support::RunPythonReference(
      "gguf_reference.py",
      "blocks " + dir.path() + " " + std::to_string(kReferenceBlocks) + " 20240 " + name);

  // gguf's own idea of the type: id, elements and bytes per block.
  std::istringstream line(printed);
  std::string printed_name;
  uint32_t id = 0;
  int64_t block_size = 0, block_bytes = 0;
  line >> printed_name >> id >> block_size >> block_bytes;
  ASSERT_EQ(printed_name, name) << printed;
  EXPECT_EQ(id, static_cast<uint32_t>(type));
  EXPECT_EQ(block_size, GgmlBlockSize(type));
  ASSERT_EQ(block_bytes, GgmlBlockBytes(type));

  const std::string blocks = test_support::ReadFile(dir.File(name + ".blocks"));
  const std::string expected_bytes = test_support::ReadFile(dir.File(name + ".f32"));
  ASSERT_EQ(blocks.size(), static_cast<std::size_t>(kReferenceBlocks * block_bytes));
  const std::size_t count = static_cast<std::size_t>(kReferenceBlocks * block_size);
  ASSERT_EQ(expected_bytes.size(), count * sizeof(float));

  const std::vector<float> actual =
      DequantizeBlocks(type, reinterpret_cast<const uint8_t*>(blocks.data()), kReferenceBlocks);
  ASSERT_EQ(actual.size(), count);
  int64_t mismatches = 0, nans = 0, nan_payload_differences = 0, infinities = 0, subnormals = 0;
  for (std::size_t i = 0; i < count; ++i) {
    uint32_t expected_bits;
    std::memcpy(&expected_bits, expected_bytes.data() + 4 * i, 4);
    const uint32_t actual_bits = BitsOf(actual[i]);
    const float expected = FloatFromBits(expected_bits);
    if (std::isnan(expected) && std::isnan(actual[i])) {
      // Both NaN: the one place bits may differ, where numpy's SIMD widening of an fp16 NaN sets
      // the quiet bit that the scalar definition keeps as stored.
      ++nans;
      nan_payload_differences += expected_bits != actual_bits;
      continue;
    }
    infinities += std::isinf(expected);
    subnormals += std::fpclassify(expected) == FP_SUBNORMAL;
    if (expected_bits != actual_bits && ++mismatches <= 5) {
      const std::size_t block = i / static_cast<std::size_t>(block_size);
      std::string hex;
      for (int64_t b = 0; b < block_bytes && b < 16; ++b) {
        static const char kHex[] = "0123456789abcdef";
        const uint8_t byte = static_cast<uint8_t>(blocks[block * block_bytes + b]);
        hex += kHex[byte >> 4];
        hex += kHex[byte & 0xF];
      }
      ADD_FAILURE() << name << " element " << i << " (block " << block << ", bytes " << hex
                    << "...): got " << actual[i] << " (0x" << std::hex << actual_bits << "), gguf "
                    << expected << " (0x" << expected_bits << ")";
    }
  }
  EXPECT_EQ(mismatches, 0) << name;
  // The extreme scales reached the outputs (the quantized types: through d and m).
  if (type != GgmlType::kBF16 && type != GgmlType::kF16 && type != GgmlType::kF32) {
    EXPECT_GT(nans, 0) << name;
    EXPECT_GT(infinities, 0) << name;
  }
  std::cout << name << ": " << count << " values bit-exact; " << nans << " NaN ("
            << nan_payload_differences << " with other NaN bits), " << infinities << " infinite, "
            << subnormals << " subnormal\n";
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GgufDequantizeReference,
                         ::testing::ValuesIn(SupportedGgmlTypes()),
                         [](const ::testing::TestParamInfo<GgmlType>& info) {
                           return std::string(GgmlTypeName(info.param));
                         });

}  // namespace
}  // namespace streamdit::engine
