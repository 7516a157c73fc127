// Writer -> reader round trips: every dtype, metadata, header order, and zero-copy data pointers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/safetensors.h"
#include "tests/support/status_testing.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using testing_files::CaptureCheckpointError;
using testing_files::ScratchDir;

const std::vector<DType> kAllDTypes = {DType::kF64,    DType::kF32,    DType::kF16, DType::kBF16,
                                       DType::kF8E4M3, DType::kF8E5M2, DType::kI64, DType::kI32,
                                       DType::kI16,    DType::kI8,     DType::kU8,  DType::kBool};

std::vector<uint8_t> RandomBytes(std::size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(count);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(rng());
  return bytes;
}

// True when `address` lies inside a mapping of `path` listed in /proc/self/maps, i.e. the reader
// handed out a pointer into the file's pages rather than into a copy.
bool InsideMappingOf(const void* address, const std::string& path) {
  const std::string wanted = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  const auto target = reinterpret_cast<uintptr_t>(address);
  while (std::getline(maps, line)) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, pathname;
    fields >> range >> perms >> offset >> device >> inode;
    std::getline(fields >> std::ws, pathname);
    if (pathname != wanted) continue;
    const std::size_t dash = range.find('-');
    const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
    const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (target >= begin && target < end && perms[0] == 'r' && perms[1] == '-') return true;
  }
  return false;
}

TEST(SafetensorsRoundTrip, EveryDTypeKeepsNameShapeAndBytes) {
  ScratchDir dir;
  const std::string path = dir.File("all.safetensors");
  SafetensorsWriter writer;
  std::vector<std::vector<uint8_t>> payloads;
  const std::vector<int64_t> shape = {3, 5};
  for (std::size_t i = 0; i < kAllDTypes.size(); ++i) {
    const DType dtype = kAllDTypes[i];
    payloads.push_back(RandomBytes(15 * DTypeSize(dtype), static_cast<uint32_t>(i + 1)));
    writer.Add("tensor." + std::string(DTypeName(dtype)), dtype, shape, payloads.back().data(),
               payloads.back().size());
  }
  writer.Write(path);

  auto file = SafetensorsFile::Open(path);
  ASSERT_EQ(file->tensors().size(), kAllDTypes.size());
  for (std::size_t i = 0; i < kAllDTypes.size(); ++i) {
    const TensorInfo& info = file->tensors()[i];  // header order == Add order
    SCOPED_TRACE(info.name);
    EXPECT_EQ(info.name, "tensor." + std::string(DTypeName(kAllDTypes[i])));
    EXPECT_EQ(info.dtype, kAllDTypes[i]);
    EXPECT_EQ(info.shape, shape);
    EXPECT_EQ(info.numel(), 15);
    ASSERT_EQ(info.nbytes(), payloads[i].size());
    EXPECT_EQ(std::memcmp(file->Data(info), payloads[i].data(), payloads[i].size()), 0);
    EXPECT_EQ(file->Find(info.name), &info);
  }
  EXPECT_EQ(file->Find("tensor.missing"), nullptr);
}

TEST(SafetensorsRoundTrip, ScalarsAndEmptyTensors) {
  ScratchDir dir;
  const std::string path = dir.File("edge.safetensors");
  const double scalar = 3.25;
  SafetensorsWriter writer;
  writer.Add("scalar", DType::kF64, {}, &scalar, sizeof(scalar));
  writer.Add("empty", DType::kBF16, {0, 4}, nullptr, 0);
  writer.Add("after_empty", DType::kU8, {1}, "x", 1);
  writer.Write(path);

  auto file = SafetensorsFile::Open(path);
  const TensorInfo* scalar_info = file->Find("scalar");
  ASSERT_NE(scalar_info, nullptr);
  EXPECT_TRUE(scalar_info->shape.empty());
  EXPECT_EQ(scalar_info->numel(), 1);
  double read_back;
  std::memcpy(&read_back, file->Data(*scalar_info), sizeof(read_back));
  EXPECT_EQ(read_back, scalar);
  const TensorInfo* empty = file->Find("empty");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->numel(), 0);
  EXPECT_EQ(empty->nbytes(), 0u);
  EXPECT_EQ(*file->Data(*file->Find("after_empty")), 'x');
}

TEST(SafetensorsRoundTrip, MetadataRoundTrips) {
  ScratchDir dir;
  const std::string path = dir.File("meta.safetensors");
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("modelspec.title", "FLUX.1 \"dev\" \xC3\xA9\n{json: [1]}");
  writer.SetMetadata("empty", "");
  writer.SetMetadata("format", "pt2");  // the last value wins
  const float value = 1.0f;
  writer.Add("w", DType::kF32, {1}, &value, sizeof(value));
  writer.Write(path);

  auto file = SafetensorsFile::Open(path);
  const std::map<std::string, std::string> expected = {
      {"format", "pt2"},
      {"modelspec.title", "FLUX.1 \"dev\" \xC3\xA9\n{json: [1]}"},
      {"empty", ""}};
  EXPECT_EQ(file->metadata(), expected);
  ASSERT_EQ(file->tensors().size(), 1u);  // __metadata__ is not a tensor
}

TEST(SafetensorsRoundTrip, DataPointersAreIntoTheReadOnlyFileMapping) {
  ScratchDir dir;
  const std::string path = dir.File("zero_copy.safetensors");
  const std::vector<uint8_t> a = RandomBytes(3 * 2, 11);
  const std::vector<uint8_t> b = RandomBytes(64 * 4, 12);
  SafetensorsWriter writer;
  writer.Add("a", DType::kBF16, {3}, a.data(), a.size());
  writer.Add("b", DType::kF32, {64}, b.data(), b.size());
  writer.Write(path);

  auto file = SafetensorsFile::Open(path);
  const uint8_t* data_a = file->Data(*file->Find("a"));
  const uint8_t* data_b = file->Data(*file->Find("b"));
  EXPECT_TRUE(InsideMappingOf(data_a, path));
  EXPECT_TRUE(InsideMappingOf(data_b, path));
  EXPECT_EQ(data_b, data_a + a.size());  // contiguous in one mapping, not separate copies
  // The data section starts 8-byte aligned, so the first tensor of any dtype is aligned.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(data_a) % 8, 0u);
  EXPECT_EQ((file->file_size() - a.size() - b.size()) % 8, 0u);
}

TEST(SafetensorsRoundTrip, DataRejectsATensorInfoFromAnotherFile) {
  ScratchDir dir;
  const uint8_t byte = 1;
  SafetensorsWriter writer;
  writer.Add("t", DType::kU8, {1}, &byte, 1);
  writer.Write(dir.File("one.safetensors"));
  writer.Write(dir.File("two.safetensors"));
  auto one = SafetensorsFile::Open(dir.File("one.safetensors"));
  auto two = SafetensorsFile::Open(dir.File("two.safetensors"));
  EXPECT_INVALID_ARGUMENT(one->Data(*two->Find("t")));
  TensorInfo copy = *one->Find("t");
  EXPECT_INVALID_ARGUMENT(one->Data(copy));
}

std::string Hex(const std::vector<uint8_t>& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string text;
  for (uint8_t byte : bytes) {
    text.push_back(kDigits[byte >> 4]);
    text.push_back(kDigits[byte & 15]);
  }
  return text.empty() ? "-" : text;
}

TEST(SafetensorsWriter, OutputReadsBackWithAnIndependentStrictReader) {
  // The Python reader applies the reference library's rules (data contiguous from offset 0 to the
  // end of the file), so files we write load in the wider ecosystem too.
  ScratchDir dir;
  const std::string path = dir.File("interop.safetensors");
  SafetensorsWriter writer;
  writer.SetMetadata("format", "pt");
  std::string expected;
  for (std::size_t i = 0; i < kAllDTypes.size(); ++i) {
    const DType dtype = kAllDTypes[i];
    const std::vector<int64_t> shape =
        i % 3 == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{2, static_cast<int64_t>(i)};
    int64_t numel = 1;
    for (int64_t dim : shape) numel *= dim;
    const std::vector<uint8_t> bytes = RandomBytes(numel * DTypeSize(dtype), 100 + i);
    const std::string name = "layer." + std::to_string(i);
    writer.Add(name, dtype, shape, bytes.data(), bytes.size());
    expected += name + " " + std::string(DTypeName(dtype)) + " " +
                (shape.empty() ? "scalar" : "2," + std::to_string(i)) + " " + Hex(bytes) + "\n";
  }
  writer.Add("zero_sized", DType::kF32, {0}, nullptr, 0);
  expected += "zero_sized F32 0 -\nmetadata format=pt\n";
  writer.Write(path);
  EXPECT_EQ(testing_files::RunCheckpointReference("inspect " + path), expected);
}

TEST(SafetensorsWriter, RejectsInconsistentAdds) {
  SafetensorsWriter writer;
  const float values[6] = {};
  EXPECT_INVALID_ARGUMENT(writer.Add("w", DType::kF32, {2, 3}, values, 20));
  EXPECT_INVALID_ARGUMENT(writer.Add("w", DType::kF32, {-2, -3}, values, 24));
  EXPECT_INVALID_ARGUMENT(writer.Add("w", DType::kF32, {int64_t{1} << 62, 8}, values, 0));
  EXPECT_INVALID_ARGUMENT(writer.Add("w", DType::kF32, {2, 3}, nullptr, 24));
  EXPECT_INVALID_ARGUMENT(writer.Add("__metadata__", DType::kF32, {2, 3}, values, 24));
  writer.Add("w", DType::kF32, {2, 3}, values, 24);
  EXPECT_INVALID_ARGUMENT(writer.Add("w", DType::kF32, {2, 3}, values, 24));
}

TEST(SafetensorsWriter, RejectsNamesAHeaderCannotHold) {
  ScratchDir dir;
  TensorInfo info;
  info.name = "w";
  info.dtype = DType::kU8;
  info.shape = {4};
  info.end = 4;
  EXPECT_INVALID_ARGUMENT(
      SafetensorsWriter::WriteSparse(dir.File("dup.safetensors"), {info, info}, {}));
  info.name = "__metadata__";
  EXPECT_INVALID_ARGUMENT(SafetensorsWriter::WriteSparse(dir.File("meta.safetensors"), {info}, {}));
  SafetensorsWriter writer;
  const uint8_t byte = 0;
  writer.Add("bad\xFFname", DType::kU8, {1}, &byte, 1);  // not UTF-8: JSON cannot carry it
  EXPECT_INVALID_ARGUMENT(writer.Write(dir.File("utf8.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("dup.safetensors")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("utf8.safetensors")));
}

TEST(SafetensorsWriter, UnwritableDestinationIsAnIoError) {
  ScratchDir dir;
  const std::string path = dir.File("no_such_dir/out.safetensors");
  SafetensorsWriter writer;
  const auto error = CaptureCheckpointError([&] { writer.Write(path); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), CheckpointError::Code::kIo);
  EXPECT_NE(std::string(error->what()).find(path), std::string::npos) << error->what();
}

TEST(SafetensorsWriter, WriteIsAtomicAndLeavesNoTemporaries) {
  ScratchDir dir;
  const std::string path = dir.File("model.safetensors");
  const uint8_t old_value = 1, new_value = 2;
  SafetensorsWriter old_writer;
  old_writer.Add("t", DType::kU8, {1}, &old_value, 1);
  old_writer.Write(path);
  auto old_file = SafetensorsFile::Open(path);

  SafetensorsWriter new_writer;
  new_writer.Add("t", DType::kU8, {1}, &new_value, 1);
  new_writer.Add("u", DType::kU8, {1}, &new_value, 1);
  new_writer.Write(path);

  // The replacement is a new inode: the open mapping still sees the old, complete file.
  EXPECT_EQ(*old_file->Data(*old_file->Find("t")), old_value);
  auto new_file = SafetensorsFile::Open(path);
  EXPECT_EQ(*new_file->Data(*new_file->Find("t")), new_value);
  EXPECT_EQ(new_file->tensors().size(), 2u);
  std::size_t entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "model.safetensors");
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

}  // namespace
}  // namespace streamdit::engine
