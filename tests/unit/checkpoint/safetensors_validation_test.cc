// Every kind of malformed file is rejected at Open with its own error code and a message naming
// the file and, where one is involved, the tensor.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/safetensors.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;
using testing_files::CaptureCheckpointError;
using testing_files::LengthPrefix;
using testing_files::ScratchDir;
using testing_files::WriteBytes;
using testing_files::WriteRawSafetensors;

class SafetensorsValidation : public ::testing::Test {
 protected:
  // Opens `path`, which must fail with `code`; the error must name the file and `tensor`.
  void ExpectRejected(const std::string& path, Code code, const std::string& tensor,
                      const std::string& detail_fragment = "") {
    const auto error = CaptureCheckpointError([&] { SafetensorsFile::Open(path); });
    ASSERT_TRUE(error.has_value()) << "opened without error: " << path;
    const std::string message = error->what();
    EXPECT_EQ(error->code(), code) << message;
    EXPECT_EQ(error->file(), path);
    EXPECT_EQ(error->tensor(), tensor) << message;
    EXPECT_NE(message.find(path), std::string::npos) << message;
    if (!tensor.empty()) {
      EXPECT_NE(message.find("'" + tensor + "'"), std::string::npos) << message;
    }
    if (!detail_fragment.empty()) {
      EXPECT_NE(message.find(detail_fragment), std::string::npos) << message;
    }
    EXPECT_NE(message.find(CheckpointError::CodeName(code)), std::string::npos) << message;
  }

  // A file holding `header` as its JSON header and `data_bytes` data bytes.
  std::string RawFile(const std::string& header, std::size_t data_bytes = 64) {
    const std::string path = dir_.File("case" + std::to_string(counter_++) + ".safetensors");
    WriteRawSafetensors(path, header, data_bytes);
    return path;
  }

  ScratchDir dir_;
  int counter_ = 0;
};

TEST_F(SafetensorsValidation, WellFormedRawFileOpens) {
  // The baseline the cases below break one thing at a time.
  const std::string path = RawFile(
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("e":{"dtype":"BF16","shape":[0],"data_offsets":[24,24]},)"
      R"("b":{"dtype":"I8","shape":[8],"data_offsets":[24,32]}})",
      32);
  auto file = SafetensorsFile::Open(path);
  ASSERT_EQ(file->tensors().size(), 3u);
  EXPECT_EQ(file->tensors()[0].name, "w");
  EXPECT_EQ(file->tensors()[2].name, "b");
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(SafetensorsFile::Open(RawFile("{}", 0))->tensors().size(), 0u);
}

TEST_F(SafetensorsValidation, MissingFileAndDirectoryAreIoErrors) {
  ExpectRejected(dir_.File("does_not_exist.safetensors"), Code::kIo, "");
  ExpectRejected(dir_.path(), Code::kIo, "");
}

TEST_F(SafetensorsValidation, FileShorterThanTheLengthPrefixIsTruncated) {
  const std::string empty = dir_.File("empty.safetensors");
  WriteBytes(empty, "");
  ExpectRejected(empty, Code::kTruncated, "");
  const std::string five = dir_.File("five.safetensors");
  WriteBytes(five, LengthPrefix(2).substr(0, 5));
  ExpectRejected(five, Code::kTruncated, "", "5 bytes");
}

TEST_F(SafetensorsValidation, HeaderLengthPastEndOfFile) {
  const std::string path = dir_.File("past_end.safetensors");
  WriteBytes(path, LengthPrefix(1000) + "{}");
  ExpectRejected(path, Code::kHeaderLengthPastEnd, "", "1000");
  // A length so large that 8 + length overflows must not wrap around into "fits".
  const std::string wrap = dir_.File("wrap.safetensors");
  WriteBytes(wrap, LengthPrefix(~uint64_t{0} - 3) + "{}");
  ExpectRejected(wrap, Code::kHeaderTooLarge, "");
}

TEST_F(SafetensorsValidation, HeaderOverTheLimitIsRejectedBeforeParsing) {
  // The file really is long enough (a hole), so only the 100 MB limit can reject it.
  const uint64_t length = SafetensorsFile::kMaxHeaderBytes + 1;
  const std::string path = dir_.File("huge_header.safetensors");
  WriteBytes(path, LengthPrefix(length) + "{");
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(8 + length + 16)), 0);
  ExpectRejected(path, Code::kHeaderTooLarge, "", std::to_string(length));
}

TEST_F(SafetensorsValidation, InvalidJson) {
  ExpectRejected(RawFile(R"({"w": {"dtype": "F32", )"), Code::kInvalidJson, "");
  ExpectRejected(RawFile(""), Code::kInvalidJson, "");
  ExpectRejected(RawFile("{}garbage"), Code::kInvalidJson, "");
  ExpectRejected(RawFile(std::string("{\"\xFF\xFE\":1}")), Code::kInvalidJson, "");  // not UTF-8
  ExpectRejected(RawFile("[1, 2]"), Code::kInvalidJson, "", "not a JSON object");
  ExpectRejected(RawFile("\"text\""), Code::kInvalidJson, "");
  ExpectRejected(RawFile(R"({"w": 1e999})"), Code::kInvalidJson, "");
}

TEST_F(SafetensorsValidation, DeeplyNestedJsonIsRejectedWithoutExhaustingTheStack) {
  const int depth = 1'000'000;
  const std::string nested = std::string(depth, '[') + std::string(depth, ']');
  ExpectRejected(RawFile("{\"w\":" + nested + "}"), Code::kInvalidEntry, "w", "not an object");
  ExpectRejected(RawFile(std::string(depth, '{')), Code::kInvalidJson, "");
}

TEST_F(SafetensorsValidation, ManyTensorsKeepHeaderOrder) {
  // Names deliberately not in sorted order; offsets ascending in header order.
  const int count = 30000;
  std::string header = "{";
  for (int i = 0; i < count; ++i) {
    const int id = (i * 7919) % count;
    if (i > 0) header += ",";
    header += "\"t" + std::to_string(id) + "\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[" +
              std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  }
  header += "}";
  auto file = SafetensorsFile::Open(RawFile(header, count));
  ASSERT_EQ(file->tensors().size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(file->tensors()[i].name, "t" + std::to_string((i * 7919) % count));
    ASSERT_EQ(file->tensors()[i].begin, static_cast<uint64_t>(i));
  }
}

TEST_F(SafetensorsValidation, UnknownDtype) {
  ExpectRejected(RawFile(R"({"ok":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                         R"("double_blocks.0.img_attn.qkv.weight":)"
                         R"({"dtype":"F4","shape":[1],"data_offsets":[1,2]}})"),
                 Code::kUnknownDtype, "double_blocks.0.img_attn.qkv.weight", "'F4'");
  ExpectRejected(RawFile(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})"),
                 Code::kUnknownDtype, "w");
}

TEST_F(SafetensorsValidation, SpanOutsideTheDataSection) {
  ExpectRejected(RawFile(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[60,68]}})", 64),
                 Code::kSpanOutsideData, "w", "64 bytes");
  ExpectRejected(RawFile(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[65,65]}})", 64),
                 Code::kSpanOutsideData, "w");
  ExpectRejected(RawFile(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[8,4]}})", 64),
                 Code::kSpanOutsideData, "w");
  ExpectRejected(RawFile(R"({"w":{"dtype":"U8","shape":[1],)"
                         R"("data_offsets":[18446744073709551615,18446744073709551615]}})"),
                 Code::kSpanOutsideData, "w");
}

TEST_F(SafetensorsValidation, OverlappingSpans) {
  ExpectRejected(RawFile(R"({"first":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                         R"("second":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})"),
                 Code::kOverlappingSpans, "second", "'first'");
  // Header order does not matter, nor does a tensor nested inside a larger one.
  ExpectRejected(RawFile(R"({"inner":{"dtype":"U8","shape":[2],"data_offsets":[10,12]},)"
                         R"("gap":{"dtype":"U8","shape":[4],"data_offsets":[40,44]},)"
                         R"("outer":{"dtype":"U8","shape":[32],"data_offsets":[0,32]}})"),
                 Code::kOverlappingSpans, "inner", "'outer'");
  // Identical spans overlap too; empty tensors own no bytes and may sit anywhere.
  ExpectRejected(RawFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})"),
                 Code::kOverlappingSpans, "b");
  EXPECT_NO_THROW(
      SafetensorsFile::Open(RawFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                                    R"("e":{"dtype":"F32","shape":[0,3],"data_offsets":[2,2]}})")));
}

TEST_F(SafetensorsValidation, SizeNotMatchingShapeTimesElementSize) {
  ExpectRejected(RawFile(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})"),
                 Code::kSizeMismatch, "w", "24 bytes");
  ExpectRejected(RawFile(R"({"w":{"dtype":"BF16","shape":[],"data_offsets":[0,4]}})"),
                 Code::kSizeMismatch, "w");
  // 2^62 * 4 * 4 bytes wraps to 0 in 64 bits; the empty span must not be accepted for it.
  ExpectRejected(
      RawFile(R"({"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}})"),
      Code::kSizeMismatch, "w", "2^64");
  ExpectRejected(
      RawFile(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
      Code::kSizeMismatch, "w");
}

TEST_F(SafetensorsValidation, DuplicateNames) {
  ExpectRejected(RawFile(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                         R"("single_blocks.3.linear1.weight":)"
                         R"({"dtype":"U8","shape":[1],"data_offsets":[1,2]},)"
                         R"("single_blocks.3.linear1.weight":)"
                         R"({"dtype":"U8","shape":[1],"data_offsets":[2,3]}})"),
                 Code::kDuplicateName, "single_blocks.3.linear1.weight");
  ExpectRejected(RawFile(R"({"__metadata__":{},"__metadata__":{}})"), Code::kDuplicateName,
                 "__metadata__");
  // Equal keys in different objects are not duplicates; equal keys in one nested object are.
  EXPECT_NO_THROW(SafetensorsFile::Open(
      RawFile(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
              R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"__metadata__":{"a":"b"}})")));
  ExpectRejected(RawFile(R"({"__metadata__":{"k":"1","k":"2"}})"), Code::kInvalidEntry,
                 "__metadata__", "'k'");
}

TEST_F(SafetensorsValidation, MissingFieldsAndWrongTypes) {
  struct Case {
    const char* entry;
    const char* fragment;
  };
  const Case cases[] = {
      {R"("x")", "not an object"},
      {R"([1,2])", "not an object"},
      {R"({"shape":[1],"data_offsets":[0,1]})", "'dtype'"},
      {R"({"dtype":7,"shape":[1],"data_offsets":[0,1]})", "'dtype'"},
      {R"({"dtype":"U8","data_offsets":[0,1]})", "'shape'"},
      {R"({"dtype":"U8","shape":1,"data_offsets":[0,1]})", "'shape'"},
      {R"({"dtype":"U8","shape":[1.5],"data_offsets":[0,1]})", "shape"},
      {R"({"dtype":"U8","shape":["1"],"data_offsets":[0,1]})", "shape"},
      {R"({"dtype":"U8","shape":[-1],"data_offsets":[0,1]})", "negative"},
      {R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,1]})", "int64"},
      {R"({"dtype":"U8","shape":[1]})", "'data_offsets'"},
      {R"({"dtype":"U8","shape":[1],"data_offsets":[0]})", "'data_offsets'"},
      {R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})", "'data_offsets'"},
      {R"({"dtype":"U8","shape":[1],"data_offsets":[-1,0]})", "'data_offsets'"},
      {R"({"dtype":"U8","shape":[1],"data_offsets":[0,1.0]})", "'data_offsets'"},
      {R"({"dtype":"U8","shape":[1],"data_offsets":{"begin":0,"end":1}})", "'data_offsets'"},
      {R"({"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]})", "'dtype'"},
  };
  for (const Case& bad : cases) {
    SCOPED_TRACE(bad.entry);
    ExpectRejected(RawFile(std::string(R"({"final_layer.linear.bias":)") + bad.entry + "}"),
                   Code::kInvalidEntry, "final_layer.linear.bias", bad.fragment);
  }
}

TEST_F(SafetensorsValidation, MetadataMustMapStringsToStrings) {
  ExpectRejected(RawFile(R"({"__metadata__":["format","pt"]})"), Code::kInvalidEntry,
                 "__metadata__");
  ExpectRejected(RawFile(R"({"__metadata__":{"format":"pt","step":1000}})"), Code::kInvalidEntry,
                 "__metadata__", "'step'");
}

}  // namespace
}  // namespace streamdit::engine
