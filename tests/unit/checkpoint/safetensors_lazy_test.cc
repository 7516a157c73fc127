// Opening is lazy: a file whose header describes a full-size FLUX transformer (~24 GB of BF16)
// opens from its header alone. The data section is a hole, so any read of tensor bytes would show
// up as resident pages (mincore), which the test checks stay absent.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "engine/checkpoint/safetensors.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using testing_files::ScratchDir;

// The BFL FLUX.1-dev block weights (flux-spec.md §1.5 shapes), stored as BF16, laid end to end.
std::vector<TensorInfo> FullSizeFluxLayout() {
  std::vector<TensorInfo> tensors;
  uint64_t offset = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    TensorInfo info;
    info.name = name;
    info.dtype = DType::kBF16;
    info.shape = std::move(shape);
    info.begin = offset;
    info.end = offset + static_cast<uint64_t>(info.numel()) * 2;
    offset = info.end;
    tensors.push_back(std::move(info));
  };
  for (int i = 0; i < 19; ++i) {
    const std::string block = "double_blocks." + std::to_string(i) + ".";
    for (const std::string stream : {"img", "txt"}) {
      add(block + stream + "_mod.lin.weight", {18432, 3072});
      add(block + stream + "_attn.qkv.weight", {9216, 3072});
      add(block + stream + "_attn.proj.weight", {3072, 3072});
      add(block + stream + "_mlp.0.weight", {12288, 3072});
      add(block + stream + "_mlp.2.weight", {3072, 12288});
    }
  }
  for (int i = 0; i < 38; ++i) {
    const std::string block = "single_blocks." + std::to_string(i) + ".";
    add(block + "modulation.lin.weight", {9216, 3072});
    add(block + "linear1.weight", {21504, 3072});
    add(block + "linear2.weight", {3072, 15360});
  }
  return tensors;
}

uint64_t AllocatedBytes(const std::string& path) {
  struct stat status;
  EXPECT_EQ(::stat(path.c_str(), &status), 0);
  return static_cast<uint64_t>(status.st_blocks) * 512;
}

// Resident pages of [begin, begin + length) as reported by mincore; begin must be page-aligned.
std::size_t ResidentPages(const uint8_t* begin, std::size_t length) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> residency((length + page - 1) / page);
  EXPECT_EQ(::mincore(const_cast<uint8_t*>(begin), length, residency.data()), 0);
  std::size_t resident = 0;
  for (unsigned char flags : residency) resident += flags & 1;
  return resident;
}

TEST(SafetensorsLazyOpen, FullSizeSparseFileOpensWithoutTouchingTensorData) {
  ScratchDir dir;
  const std::string path = dir.File("flux1-dev-layout.safetensors");
  const std::vector<TensorInfo> layout = FullSizeFluxLayout();
  SafetensorsWriter::WriteSparse(path, layout, {{"format", "pt"}});
  ASSERT_GT(layout.back().end, 23'000'000'000u);

  auto file = SafetensorsFile::Open(path);
  ASSERT_EQ(file->tensors().size(), layout.size());
  EXPECT_GT(file->file_size(), layout.back().end);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const TensorInfo& info = file->tensors()[i];
    ASSERT_EQ(info.name, layout[i].name);
    ASSERT_EQ(info.shape, layout[i].shape);
    ASSERT_EQ(info.begin, layout[i].begin);
  }
  // The file is sparse: nothing but the header occupies disk blocks.
  EXPECT_LT(AllocatedBytes(path), 1u << 20);

  // No page of the data section past the header's neighbourhood (readahead may pull in a few
  // megabytes around the header) has been brought into memory by Open.
  const TensorInfo& first = file->tensors().front();
  const uint64_t data_offset = file->file_size() - layout.back().end;
  const uint8_t* mapping_begin = file->Data(first) - data_offset - first.begin;
  const std::size_t skip = 16u << 20;
  const std::size_t checked = file->file_size() - skip;
  EXPECT_EQ(ResidentPages(mapping_begin + skip, checked), 0u);

  // The probe can see a read: touching one byte of the last tensor makes its page resident.
  const TensorInfo& last = file->tensors().back();
  const volatile uint8_t* last_byte = file->Data(last) + last.nbytes() - 1;
  EXPECT_EQ(*last_byte, 0);  // a hole reads as zeros
  EXPECT_GT(ResidentPages(mapping_begin + skip, checked), 0u);
  EXPECT_LT(AllocatedBytes(path), 1u << 20);
}

}  // namespace
}  // namespace streamdit::engine
