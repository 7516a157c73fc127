// Every kind of malformed GGUF file is rejected at Open with DATA_LOSS (NOT_FOUND for a file that
// cannot be opened), its own CheckpointError code, and a message naming the file, the tensor where
// one is involved, and the field. Files are assembled field by field (gguf_test_files.h).
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/gguf_file.h"
#include "tests/support/file_bytes.h"
#include "tests/support/scratch_dir.h"
#include "tests/unit/checkpoint/gguf_test_files.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;
using testing_files::GgufString;
using testing_files::RawGguf;
using testing_files::SmallGguf;
using testing_files::U32Bytes;
using testing_files::U64Bytes;
namespace tag = testing_files::tag;
namespace ggml = testing_files::ggml;

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();

class GgufValidation : public ::testing::Test {
 protected:
  std::string Write(const std::string& bytes) {
    const std::string path = dir_.File("case" + std::to_string(counter_++) + ".gguf");
    test_support::WriteFile(path, bytes);
    return path;
  }

  // Opens `bytes` as a file, which must fail with `code` (DATA_LOSS unless kIo); the message must
  // name the file, `tensor` (if any) and contain every fragment.
  void ExpectRejected(const std::string& bytes, Code code, const std::string& tensor,
                      std::initializer_list<std::string> fragments) {
    const std::string path = Write(bytes);
    try {
      GgufFile::Open(path);
      ADD_FAILURE() << "opened without error; expected " << CheckpointError::CodeName(code);
    } catch (const CheckpointError& error) {
      const std::string message = error.what();
      EXPECT_EQ(error.code(), code) << message;
      EXPECT_EQ(error.status().code(), absl::StatusCode::kDataLoss) << message;
      EXPECT_EQ(error.file(), path);
      EXPECT_EQ(error.tensor(), tensor) << message;
      EXPECT_NE(message.find(path), std::string::npos) << message;
      if (!tensor.empty()) {
        EXPECT_NE(message.find("tensor '" + tensor + "'"), std::string::npos) << message;
      }
      for (const std::string& fragment : fragments) {
        EXPECT_NE(message.find(fragment), std::string::npos)
            << "'" << fragment << "' not in " << message;
      }
    }
  }

  test_support::ScratchDir dir_{"gguf_validation"};
  int counter_ = 0;
};

TEST_F(GgufValidation, SmallFileIsValid) {
  // The baseline the cases below break one thing at a time.
  const auto file = GgufFile::Open(Write(SmallGguf().Serialize()));
  EXPECT_EQ(file->tensors().size(), 2u);
  EXPECT_EQ(file->metadata().size(), 3u);
}

TEST_F(GgufValidation, TruncatedAtEveryByteIsAnError) {
  const std::string bytes = SmallGguf().Serialize();
  std::map<Code, int> codes;
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    const std::string path = dir_.File("cut" + std::to_string(size) + ".gguf");
    test_support::WriteFile(path, bytes.substr(0, size));
    try {
      GgufFile::Open(path);
      ADD_FAILURE() << "a file cut to " << size << " of " << bytes.size() << " bytes opened";
    } catch (const CheckpointError& error) {
      ++codes[error.code()];
      EXPECT_EQ(error.status().code(), absl::StatusCode::kDataLoss) << error.what();
      EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
    }
  }
  // Cut inside fixed fields, inside strings, inside tensor data.
  EXPECT_GT(codes[Code::kTruncated], 0);
  EXPECT_GT(codes[Code::kHeaderLengthPastEnd], 0);
  EXPECT_GT(codes[Code::kSpanOutsideData], 0);
}

TEST_F(GgufValidation, CutFieldsAreNamed) {
  const std::string bytes = SmallGguf().Serialize();
  ExpectRejected("", Code::kTruncated, "", {"empty"});
  ExpectRejected("GG", Code::kTruncated, "", {"magic", "cut off by the end of the file (2 bytes)"});
  ExpectRejected(bytes.substr(0, 6), Code::kTruncated, "", {"version"});
  ExpectRejected(bytes.substr(0, 12), Code::kTruncated, "", {"tensor count"});
  ExpectRejected(bytes.substr(0, 20), Code::kTruncated, "", {"metadata key/value count"});
}

TEST_F(GgufValidation, BadMagic) {
  RawGguf file = SmallGguf();
  file.magic = "GGML";
  ExpectRejected(file.Serialize(), Code::kInvalidEntry, "",
                 {"magic is bytes 47 47 4d 4c", "not a GGUF file"});
}

TEST_F(GgufValidation, UnsupportedVersions) {
  for (uint32_t version : {0u, 1u, 4u, 0x03000000u}) {
    RawGguf file = SmallGguf();
    file.version = version;
    ExpectRejected(file.Serialize(), Code::kInvalidEntry, "",
                   {"unsupported GGUF version " + std::to_string(version)});
  }
  RawGguf swapped = SmallGguf();
  swapped.version = 0x03000000;
  ExpectRejected(swapped.Serialize(), Code::kInvalidEntry, "", {"big-endian"});
}

TEST_F(GgufValidation, AbsurdCounts) {
  for (uint64_t count : {kMax64, uint64_t{1} << 60, uint64_t{1000000}}) {
    RawGguf tensors = SmallGguf();
    tensors.tensor_count = count;
    ExpectRejected(tensors.Serialize(), Code::kHeaderLengthPastEnd, "",
                   {"tensor count " + std::to_string(count), "runs past the end of the file"});
    RawGguf kvs = SmallGguf();
    kvs.kv_count = count;
    ExpectRejected(kvs.Serialize(), Code::kHeaderLengthPastEnd, "",
                   {"metadata key/value count " + std::to_string(count)});
  }
  // A count that fits the bytes but not the content runs into the next fields.
  RawGguf more = SmallGguf();
  more.kv_count = 4;
  const auto file_or_error = [&] { GgufFile::Open(Write(more.Serialize())); };
  EXPECT_THROW(file_or_error(), CheckpointError);
}

TEST_F(GgufValidation, StringLengthsPastTheEnd) {
  RawGguf key = SmallGguf();
  key.kv_bytes = U64Bytes(kMax64) + key.kv_bytes.substr(8);  // the first key's length
  ExpectRejected(key.Serialize(), Code::kHeaderLengthPastEnd, "",
                 {"metadata key #0 (0-based) length " + std::to_string(kMax64),
                  "runs past the end of the file"});
  RawGguf value;
  value.Add("general.name", tag::kString, U64Bytes(1000) + "short");
  ExpectRejected(value.Serialize(), Code::kHeaderLengthPastEnd, "",
                 {"metadata 'general.name' value length 1000"});
  RawGguf name = SmallGguf();
  name.tensors[1].name = std::string(40, 'x');
  std::string bytes = name.Header();
  const std::size_t at = bytes.find(std::string(40, 'x')) - 8;
  bytes.replace(at, 8, U64Bytes(uint64_t{1} << 40));
  ExpectRejected(bytes, Code::kHeaderLengthPastEnd, "", {"tensor info #1 (0-based) name length"});
}

TEST_F(GgufValidation, BadValues) {
  ExpectRejected(RawGguf().Add("k", 13, "").Serialize(), Code::kInvalidEntry, "",
                 {"metadata 'k' value has unknown value type 13"});
  ExpectRejected(RawGguf().Add("k", tag::kBool, std::string(1, '\x02')).Serialize(),
                 Code::kInvalidEntry, "", {"metadata 'k' value holds bool byte 2"});
  ExpectRejected(RawGguf().Add("k", tag::kArray, U32Bytes(77) + U64Bytes(1)).Serialize(),
                 Code::kInvalidEntry, "", {"unknown value type 77"});
  ExpectRejected(
      RawGguf().Add("k", tag::kArray, U32Bytes(tag::kUint64) + U64Bytes(kMax64 / 4)).Serialize(),
      Code::kHeaderLengthPastEnd, "",
      {"metadata 'k' value element count " + std::to_string(kMax64 / 4)});
  ExpectRejected(
      RawGguf()
          .Add("k", tag::kArray,
               U32Bytes(tag::kString) + U64Bytes(3) + GgufString("a") + U64Bytes(99) + "b")
          .Serialize(),
      Code::kHeaderLengthPastEnd, "", {"metadata 'k' value element 1 length 99"});
  RawGguf cut;  // no padding: the file ends two bytes into the value
  cut.padding = 0;
  ExpectRejected(cut.Add("k", tag::kUint32, "\x01\x02").Serialize(), Code::kTruncated, "",
                 {"metadata 'k' value (4 bytes at offset", "is cut off by the end of the file"});
  RawGguf twice = SmallGguf();
  twice.AddU32("flux.depth", 20);
  ExpectRejected(twice.Serialize(), Code::kDuplicateName, "",
                 {"metadata 'flux.depth' appears more than once"});
}

TEST_F(GgufValidation, NestedArraysAreBounded) {
  // Depth 2 is fine; deeper than GgufFile::kMaxArrayNesting is not.
  std::string two = U32Bytes(tag::kArray) + U64Bytes(1) + U32Bytes(tag::kInt8) + U64Bytes(2) +
                    std::string("\x01\xff", 2);
  const auto ok = GgufFile::Open(Write(RawGguf().Add("k", tag::kArray, two).Serialize()));
  EXPECT_EQ(ok->FindMetadata("k")->Element(0).AsInt64Array(), (std::vector<int64_t>{1, -1}));
  std::string deep = U32Bytes(tag::kInt8) + U64Bytes(0);
  for (int level = 1; level <= GgufFile::kMaxArrayNesting; ++level) {
    deep = U32Bytes(tag::kArray) + U64Bytes(1) + deep;
  }
  ExpectRejected(RawGguf().Add("k", tag::kArray, deep).Serialize(), Code::kInvalidEntry, "",
                 {"nests arrays deeper than 16 levels"});
}

TEST_F(GgufValidation, BadAlignment) {
  RawGguf wide = SmallGguf();
  wide.Add("general.alignment", tag::kUint64, U64Bytes(32));
  ExpectRejected(wide.Serialize(), Code::kInvalidEntry, "",
                 {"metadata 'general.alignment' must be a uint32, not a uint64"});
  for (uint32_t alignment : {0u, 48u}) {
    RawGguf odd = SmallGguf();
    odd.AddU32("general.alignment", alignment);
    ExpectRejected(odd.Serialize(), Code::kInvalidEntry, "",
                   {"is " + std::to_string(alignment) + ", not a power of two"});
  }
  // A larger alignment moves the data section: the small file's layout no longer fits it.
  RawGguf moved = SmallGguf();
  moved.AddU32("general.alignment", 64);
  ExpectRejected(moved.Serialize(), Code::kInvalidEntry, "final_layer.linear.weight",
                 {"offset 32 is not a multiple of the alignment 64"});
}

TEST_F(GgufValidation, TensorOffsets) {
  RawGguf misaligned = SmallGguf();
  misaligned.tensors[1].offset = 40;
  ExpectRejected(misaligned.Serialize(), Code::kInvalidEntry, "final_layer.linear.weight",
                 {"offset 40 is not a multiple of the alignment 32"});
  RawGguf past = SmallGguf();
  past.tensors[1].offset = 64;
  const std::string bytes = past.Serialize();
  const uint64_t data_offset = bytes.size() - 66;
  ExpectRejected(
      bytes, Code::kSpanOutsideData, "final_layer.linear.weight",
      {"at offset 64 + 34 bytes is past the end of the file (" + std::to_string(bytes.size()) +
       " bytes; the data section starts at byte " + std::to_string(data_offset) + ")"});
  for (uint64_t offset : {kMax64 - 31, uint64_t{1} << 63}) {  // offset + nbytes wraps around
    RawGguf wrap = SmallGguf();
    wrap.tensors[1].offset = offset;
    ExpectRejected(wrap.Serialize(), Code::kSpanOutsideData, "final_layer.linear.weight",
                   {"offset " + std::to_string(offset)});
  }
  RawGguf overlap = SmallGguf();
  overlap.tensors[1].offset = 0;
  ExpectRejected(overlap.Serialize(), Code::kOverlappingSpans, "final_layer.linear.weight",
                 {"bytes [0, 34) overlap tensor 'img_in.weight' at [0, 24)"});
  RawGguf no_data = SmallGguf();
  no_data.data.clear();
  no_data.padding = 0;
  ASSERT_NE(no_data.Header().size() % 32, 0u);  // else the data section would start at the end
  ExpectRejected(no_data.Serialize(), Code::kTruncated, "", {"the data section"});
}

TEST_F(GgufValidation, TensorInfoFields) {
  RawGguf unknown = SmallGguf();
  unknown.tensors[0].type = 99;
  ExpectRejected(unknown.Serialize(), Code::kUnknownDtype, "img_in.weight",
                 {"unknown GGML type id 99"});
  RawGguf iq = SmallGguf();
  iq.tensors[0].type = 16;
  ExpectRejected(iq.Serialize(), Code::kUnknownDtype, "img_in.weight", {"16 (IQ2_XXS)"});
  RawGguf five = SmallGguf();
  five.tensors[0].dims = {3, 2, 1, 1, 1};
  ExpectRejected(five.Serialize(), Code::kInvalidEntry, "img_in.weight",
                 {"n_dims 5 exceeds the maximum of 4"});
  RawGguf huge_dim = SmallGguf();
  huge_dim.tensors[0].dims = {3, kMax64};
  ExpectRejected(huge_dim.Serialize(), Code::kInvalidEntry, "img_in.weight",
                 {"dimension 1 is " + std::to_string(kMax64) + ", above int64"});
  RawGguf product = SmallGguf();
  product.tensors[0].dims = {uint64_t{1} << 32, uint64_t{1} << 32, 4};
  ExpectRejected(product.Serialize(), Code::kSizeMismatch, "img_in.weight",
                 {"the element count overflows int64"});
  RawGguf bytes = SmallGguf();
  bytes.tensors[0].dims = {uint64_t{1} << 31, uint64_t{1} << 31};
  ExpectRejected(bytes.Serialize(), Code::kSizeMismatch, "img_in.weight",
                 {"the byte count overflows int64"});
  RawGguf row = SmallGguf();
  row.tensors[1].dims = {16, 2};
  ExpectRejected(row.Serialize(), Code::kSizeMismatch, "final_layer.linear.weight",
                 {"row of 16 elements is not a multiple of the block size 32"});
  RawGguf twice = SmallGguf();
  twice.tensors[1].name = "img_in.weight";
  ExpectRejected(twice.Serialize(), Code::kDuplicateName, "img_in.weight",
                 {"appears more than once"});
  RawGguf cut = SmallGguf();
  ExpectRejected(cut.Header().substr(0, cut.Header().size() - 4), Code::kTruncated,
                 "final_layer.linear.weight", {"offset (8 bytes at offset"});
}

TEST_F(GgufValidation, EdgeCasesThatAreValid) {
  // n_dims 0 (one element), an empty tensor, a zero-tensor file without data, and no padding after
  // the last tensor.
  RawGguf file;
  file.tensors.push_back({"scalar", {}, ggml::kF32, 0});
  file.tensors.push_back({"empty", {32, 0}, ggml::kQ4_0, 32});
  file.tensors.push_back({"bf16", {3}, ggml::kBF16, 32});
  file.data =
      U32Bytes(0x3F800000) + std::string(28, '\0') + std::string("\x80\x3f\x00\x00\x00\xc0", 6);
  const auto opened = GgufFile::Open(Write(file.Serialize()));
  EXPECT_EQ(opened->Find("scalar")->shape, std::vector<int64_t>{});
  EXPECT_EQ(opened->Dequantize("scalar"), std::vector<float>{1.0f});
  EXPECT_TRUE(opened->Dequantize("empty").empty());
  EXPECT_EQ(opened->Find("empty")->shape, (std::vector<int64_t>{0, 32}));
  EXPECT_EQ(opened->Dequantize("bf16"), (std::vector<float>{1.0f, 0.0f, -2.0f}));

  RawGguf header_only;
  header_only.AddString("general.architecture", "flux");
  header_only.padding = 0;
  EXPECT_TRUE(GgufFile::Open(Write(header_only.Serialize()))->tensors().empty());
}

TEST_F(GgufValidation, FilesThatCannotBeOpened) {
  for (const std::string& path : {dir_.File("absent.gguf"), dir_.path()}) {
    try {
      GgufFile::Open(path);
      ADD_FAILURE() << "opened " << path;
    } catch (const CheckpointError& error) {
      EXPECT_EQ(error.code(), Code::kIo) << error.what();
      EXPECT_EQ(error.status().code(), absl::StatusCode::kNotFound) << error.what();
      EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
    }
  }
}

}  // namespace
}  // namespace streamdit::engine
