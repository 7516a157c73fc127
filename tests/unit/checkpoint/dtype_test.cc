// DType spellings and sizes, and the CheckpointError message format every caller relies on.
#include "engine/checkpoint/dtype.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"

namespace streamdit::engine {
namespace {

TEST(DType, SafetensorsSpellingsAndSizes) {
  struct Expected {
    const char* name;
    DType dtype;
    std::size_t size;
    bool floating_point;
  };
  const Expected table[] = {
      {"F64", DType::kF64, 8, true},        {"F32", DType::kF32, 4, true},
      {"F16", DType::kF16, 2, true},        {"BF16", DType::kBF16, 2, true},
      {"F8_E4M3", DType::kF8E4M3, 1, true}, {"F8_E5M2", DType::kF8E5M2, 1, true},
      {"I64", DType::kI64, 8, false},       {"I32", DType::kI32, 4, false},
      {"I16", DType::kI16, 2, false},       {"I8", DType::kI8, 1, false},
      {"U8", DType::kU8, 1, false},         {"BOOL", DType::kBool, 1, false},
  };
  for (const Expected& row : table) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(ParseDType(row.name), row.dtype);
    EXPECT_EQ(DTypeName(row.dtype), row.name);
    EXPECT_EQ(DTypeSize(row.dtype), row.size);
    EXPECT_EQ(IsFloatingPoint(row.dtype), row.floating_point);
  }
  for (const char* unknown : {"", "f32", "F8", "F8_E4M3FN", "U16", "bool", "F32 ", "C64"}) {
    EXPECT_EQ(ParseDType(unknown), std::nullopt) << unknown;
  }
}

TEST(CheckpointError, MessageNamesFileTensorAndCode) {
  const CheckpointError error(CheckpointError::Code::kSizeMismatch, "/models/flux.safetensors",
                              "img_in.weight", "needs 24 bytes");
  const std::string message = error.what();
  EXPECT_EQ(error.file(), "/models/flux.safetensors");
  EXPECT_EQ(error.tensor(), "img_in.weight");
  EXPECT_NE(message.find("/models/flux.safetensors"), std::string::npos) << message;
  EXPECT_NE(message.find("'img_in.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("needs 24 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("size_mismatch"), std::string::npos) << message;
}

TEST(CheckpointError, EveryCodeHasItsOwnName) {
  std::set<std::string> names;
  for (int code = 0; code <= static_cast<int>(CheckpointError::Code::kUnrecognizedLayout); ++code) {
    names.insert(CheckpointError::CodeName(static_cast<CheckpointError::Code>(code)));
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(CheckpointError::Code::kUnrecognizedLayout) + 1);
  EXPECT_EQ(names.count("unknown"), 0u);
}

}  // namespace
}  // namespace streamdit::engine
