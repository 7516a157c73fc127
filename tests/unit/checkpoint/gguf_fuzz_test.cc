// Randomly damaged GGUF files (fixed seeds, so failures reproduce): every one must either open with
// consistent metadata and tensors (whose bytes are then read and dequantized) or be rejected with
// CheckpointError naming the file; never a crash, a hang, a huge allocation or another exception
// type. Run under scripts/sanitize-checkpoint, ASan/UBSan also check memory safety.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/gguf_file.h"
#include "tests/support/file_bytes.h"
#include "tests/support/scratch_dir.h"
#include "tests/unit/checkpoint/gguf_test_files.h"

namespace streamdit::engine {
namespace {

using testing_files::F32Bytes;
using testing_files::GgufString;
using testing_files::RawGguf;
using testing_files::U32Bytes;
using testing_files::U64Bytes;
namespace tag = testing_files::tag;
namespace ggml = testing_files::ggml;

// The valid files the mutations start from: the small file, and one with metadata of every value
// type (nested arrays included), a custom alignment and tensors of several block types.
std::vector<RawGguf> Seeds() {
  std::vector<RawGguf> seeds = {testing_files::SmallGguf()};
  RawGguf rich;
  rich.AddString("general.architecture", "flux");
  rich.AddU32("general.alignment", 64);
  rich.padding = 64;
  rich.Add("a.u8", tag::kUint8, "\x07");
  rich.Add("a.i16", tag::kInt16, "\xfe\xff");
  rich.Add("a.f32", tag::kFloat32, F32Bytes(0.25f));
  rich.Add("a.bool", tag::kBool, std::string(1, '\x01'));
  rich.Add("a.u64", tag::kUint64, U64Bytes(~uint64_t{0}));
  rich.Add("a.f64", tag::kFloat64, U64Bytes(0x3FF0000000000000ull));
  rich.Add("a.i64s", tag::kArray,
           U32Bytes(tag::kInt64) + U64Bytes(2) + U64Bytes(5) + U64Bytes(~0ull));
  rich.Add("a.strings", tag::kArray,
           U32Bytes(tag::kString) + U64Bytes(3) + GgufString("x") + GgufString("") +
               GgufString("double_blocks.0"));
  rich.Add("a.nested", tag::kArray,
           U32Bytes(tag::kArray) + U64Bytes(2) + U32Bytes(tag::kBool) + U64Bytes(2) +
               std::string("\x01\x00", 2) + U32Bytes(tag::kString) + U64Bytes(1) + GgufString("y"));
  rich.tensors.push_back({"q4k", {256, 2}, ggml::kQ4_K, 0});  // 288 bytes
  rich.tensors.push_back({"f16", {4, 2, 1}, ggml::kF16, 320});
  rich.tensors.push_back({"q40", {64}, ggml::kQ4_0, 384});
  rich.tensors.push_back({"bf16", {2}, ggml::kBF16, 448});
  for (int i = 0; i < 452; ++i) {
    // Tame fp16 scales in the Q4_K blocks (d, dmin at 0 and 144) keep most values finite.
    const bool scale_high_byte = i == 1 || i == 3 || i == 145 || i == 147;
    rich.data.push_back(static_cast<char>(scale_high_byte ? 0x1C : (i * 73 + 5) & 0xFF));
  }
  seeds.push_back(rich);
  return seeds;
}

// --- mutations -----------------------------------------------------------------------------

std::string FlipBytes(const RawGguf& seed, std::mt19937_64& rng) {
  std::string blob = seed.Serialize();
  const std::size_t region = seed.Header().size() + 16;  // the header, a little data
  const int flips = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < flips; ++i) {
    const std::size_t at = rng() % std::min(region, blob.size());
    blob[at] = static_cast<char>(rng() % 2 ? blob[at] ^ (1 << (rng() % 8)) : rng());
  }
  return blob;
}

std::string Truncate(const RawGguf& seed, std::mt19937_64& rng) {
  const std::string blob = seed.Serialize();
  return blob.substr(0, rng() % (blob.size() + 1));
}

uint64_t SpecialNumber(std::mt19937_64& rng) {
  static const uint64_t kSpecial[] = {
      0,          1,          2,          3,          4,     5,          9,         12,
      13,         16,         31,         32,         33,    64,         256,       0xFFFFFFFFull,
      1ull << 31, 1ull << 32, 1ull << 62, 1ull << 63, ~0ull, ~0ull - 31, 0x03000000};
  switch (rng() % 3) {
    case 0:
      return kSpecial[rng() % (sizeof(kSpecial) / sizeof(kSpecial[0]))];
    case 1:
      return rng() >> (rng() % 64);
    default:
      return rng() % 512;
  }
}

// Overwrites a u32 or u64 at any byte of the header (fields are packed, so any offset may start
// one): lengths, counts, type tags, dims, offsets.
std::string EditNumbers(const RawGguf& seed, std::mt19937_64& rng) {
  std::string blob = seed.Serialize();
  const std::size_t header = seed.Header().size();
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    const std::string bytes = rng() % 2 ? U64Bytes(SpecialNumber(rng))
                                        : U32Bytes(static_cast<uint32_t>(SpecialNumber(rng)));
    const std::size_t at = rng() % header;
    blob.replace(at, std::min(bytes.size(), blob.size() - at), bytes.substr(0, blob.size() - at));
  }
  return blob;
}

// Structural edits through the builder: tensor dims, types and offsets, counts, alignment, extra
// metadata of random types.
std::string EditStructure(const RawGguf& seed, std::mt19937_64& rng) {
  RawGguf file = seed;
  switch (rng() % 7) {
    case 0: {
      auto& info = file.tensors[rng() % file.tensors.size()];
      if (rng() % 3 == 0 && !info.dims.empty()) {
        info.dims.pop_back();
      } else if (rng() % 2 && info.dims.size() < 6) {
        info.dims.push_back(SpecialNumber(rng) % 5);
      } else if (!info.dims.empty()) {
        info.dims[rng() % info.dims.size()] = SpecialNumber(rng);
      }
      break;
    }
    case 1: {
      static const uint32_t kTypes[] = {0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30, 4, 9, 16, 99};
      file.tensors[rng() % file.tensors.size()].type = kTypes[rng() % (sizeof(kTypes) / 4)];
      break;
    }
    case 2:
      file.tensors[rng() % file.tensors.size()].offset =
          rng() % 2 ? SpecialNumber(rng) : 32 * (rng() % 20);
      break;
    case 3:
      if (rng() % 2) {
        file.tensor_count = SpecialNumber(rng);
      } else {
        file.kv_count = SpecialNumber(rng);
      }
      break;
    case 4:
      file.AddU32("general.alignment", static_cast<uint32_t>(SpecialNumber(rng)));
      break;
    case 5: {
      std::string value;
      const int length = static_cast<int>(rng() % 24);
      for (int i = 0; i < length; ++i) value.push_back(static_cast<char>(rng() % 4 ? rng() : 0));
      file.Add("fuzz." + std::to_string(rng() % 4), static_cast<uint32_t>(rng() % 15), value);
      break;
    }
    default:
      file.tensors.push_back(file.tensors[rng() % file.tensors.size()]);  // duplicate name
      if (rng() % 2) file.tensors.back().name += ".copy";                 // or shared bytes
      break;
  }
  return file.Serialize();
}

std::string Splice(const RawGguf& seed, std::mt19937_64& rng) {
  std::string blob = seed.Serialize();
  const std::size_t header = seed.Header().size();
  const std::size_t at = rng() % header;
  const std::size_t length = 1 + rng() % 16;
  if (rng() % 2) {
    blob.erase(at, length);
  } else {
    blob.insert(at, blob.substr(rng() % header, length));
  }
  return blob;
}

// --- invariants of an accepted file ----------------------------------------------------------

void Touch(const GgufValue& value) {
  (void)value.DebugString();
  (void)value.AsInt64Array();
  (void)value.AsDoubleArray();
  (void)value.AsStringArray();
  for (uint64_t i = 0; i < value.size() && i < 64; ++i) Touch(value.Element(i));
}

void ExpectConsistent(const GgufFile& file, const std::string& context) {
  for (const auto& [key, value] : file.metadata()) {
    ASSERT_EQ(file.FindMetadata(key), &value) << context;
    Touch(value);
  }
  const uint64_t alignment = file.alignment();
  ASSERT_TRUE(alignment != 0 && (alignment & (alignment - 1)) == 0) << context;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const GgufTensorInfo& info : file.tensors()) {
    SCOPED_TRACE(context + " tensor " + info.name);
    ASSERT_EQ(file.Find(info.name), &info);
    ASSERT_LE(info.dims.size(), 4u);
    ASSERT_EQ(info.shape, std::vector<int64_t>(info.dims.rbegin(), info.dims.rend()));
    ASSERT_EQ(info.nbytes, GgmlTensorBytes(info.type, info.dims));
    ASSERT_EQ(info.offset % alignment, 0u);
    ASSERT_LE(file.data_offset() + info.offset + info.nbytes, file.file_size());
    if (info.nbytes == 0) continue;
    spans.emplace_back(info.offset, info.offset + info.nbytes);
    const uint8_t* data = file.Data(info);
    volatile uint8_t sink = data[0];  // faults if the span left the mapping
    sink = data[info.nbytes - 1];
    (void)sink;
    ASSERT_EQ(file.Dequantize(info.name).size(), static_cast<std::size_t>(info.numel));
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) {
    ASSERT_LE(spans[i - 1].second, spans[i].first) << context << ": overlapping spans accepted";
  }
}

TEST(GgufFuzz, DamagedFilesAreAcceptedConsistentlyOrRejectedWithCheckpointError) {
  test_support::ScratchDir dir("gguf_fuzz");
  const std::vector<RawGguf> seeds = Seeds();
  const std::string path = dir.File("case.gguf");
  using Mutation = std::function<std::string(const RawGguf&, std::mt19937_64&)>;
  const std::vector<std::pair<const char*, Mutation>> mutations = {{"flip", FlipBytes},
                                                                   {"truncate", Truncate},
                                                                   {"numbers", EditNumbers},
                                                                   {"structure", EditStructure},
                                                                   {"splice", Splice}};
  constexpr int kCasesPerMutationAndSeed = 600;

  std::map<CheckpointError::Code, int> rejected;
  int accepted = 0;
  for (std::size_t s = 0; s < seeds.size(); ++s) {
    test_support::WriteFile(path, seeds[s].Serialize());
    ASSERT_NO_THROW(GgufFile::Open(path)) << "seed " << s;
    for (std::size_t m = 0; m < mutations.size(); ++m) {
      std::mt19937_64 rng(1000 * s + m + 1);  // fixed: a failure names a reproducible case
      for (int i = 0; i < kCasesPerMutationAndSeed; ++i) {
        const std::string context = std::string(mutations[m].first) + " seed " + std::to_string(s) +
                                    " case " + std::to_string(i);
        const std::string blob = mutations[m].second(seeds[s], rng);
        std::filesystem::remove(path);  // a fresh inode: truncating in place makes ext4 flush
        test_support::WriteFile(path, blob);
        try {
          const auto file = GgufFile::Open(path);
          ExpectConsistent(*file, context);
          ++accepted;
        } catch (const CheckpointError& error) {
          ++rejected[error.code()];
          ASSERT_EQ(error.file(), path) << context;
          ASSERT_NE(std::string(error.what()).find(path), std::string::npos) << context;
        } catch (const std::exception& error) {
          FAIL() << context << ": unexpected exception " << error.what();
        }
      }
    }
  }
  // The mutations reach past the first checks: both outcomes occur, and most codes are hit.
  EXPECT_GT(accepted, 100);
  int total_rejected = 0;
  std::string seen;
  for (const auto& [code, count] : rejected) {
    total_rejected += count;
    seen += std::string(CheckpointError::CodeName(code)) + "=" + std::to_string(count) + " ";
  }
  EXPECT_GT(total_rejected, 2000);
  EXPECT_GE(rejected.size(), 8u) << seen;
  std::cout << "accepted " << accepted << ", rejected: " << seen << "\n";
}

}  // namespace
}  // namespace streamdit::engine
