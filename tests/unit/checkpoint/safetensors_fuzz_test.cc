// Randomly damaged headers (fixed seeds, so failures reproduce): every one must either open with
// consistent tensors or be rejected with CheckpointError; never a crash, a hang, or another
// exception type. Run under scripts/sanitize-checkpoint, ASan/UBSan also check memory safety.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/safetensors.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using json = nlohmann::ordered_json;
using testing_files::LengthPrefix;
using testing_files::ScratchDir;
using testing_files::WriteBytes;

struct SplitFile {
  std::string header;
  std::string data;
};

std::string Join(const SplitFile& file) {
  return LengthPrefix(file.header.size()) + file.header + file.data;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The valid files the mutations start from.
std::vector<SplitFile> SeedFiles(const ScratchDir& dir) {
  std::vector<SplitFile> seeds;
  {
    SafetensorsWriter writer;
    writer.SetMetadata("format", "pt");
    writer.SetMetadata("note", "seed");
    std::vector<uint8_t> bytes(4096);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31);
    writer.Add("double_blocks.0.img_attn.qkv.weight", DType::kBF16, {12, 8}, bytes.data(), 192);
    writer.Add("double_blocks.0.img_attn.norm.query_norm.scale", DType::kF32, {8}, bytes.data(),
               32);
    writer.Add("single_blocks.0.linear1.weight", DType::kF8E4M3, {16, 4}, bytes.data(), 64);
    writer.Add("empty", DType::kF16, {0, 3}, nullptr, 0);
    writer.Add("scalar", DType::kF64, {}, bytes.data(), 8);
    writer.Add("ids", DType::kI64, {2, 2}, bytes.data(), 32);
    writer.Add("mask", DType::kBool, {5}, bytes.data(), 5);
    writer.Write(dir.File("seed0.safetensors"));
  }
  {
    SafetensorsWriter writer;
    std::vector<uint8_t> bytes(64, 7);
    for (int i = 0; i < 24; ++i) {
      writer.Add("t." + std::to_string(i), i % 2 ? DType::kI16 : DType::kU8, {1, 2}, bytes.data(),
                 i % 2 ? 4 : 2);
    }
    writer.Write(dir.File("seed1.safetensors"));
  }
  for (const char* name : {"seed0.safetensors", "seed1.safetensors"}) {
    const std::string blob = ReadAll(dir.File(name));
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<uint8_t>(blob[i]);
    seeds.push_back({blob.substr(8, length), blob.substr(8 + length)});
  }
  return seeds;
}

// --- mutations -----------------------------------------------------------------------------

std::string FlipBytes(const SplitFile& seed, std::mt19937_64& rng) {
  std::string blob = Join(seed);
  const std::size_t region = 8 + seed.header.size() + 8;  // the length, the header, a bit more
  const int flips = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < flips; ++i) {
    const std::size_t at = rng() % std::min(region, blob.size());
    if (rng() % 2) {
      blob[at] = static_cast<char>(blob[at] ^ (1 << (rng() % 8)));
    } else {
      blob[at] = static_cast<char>(rng());
    }
  }
  return blob;
}

std::string Truncate(const SplitFile& seed, std::mt19937_64& rng) {
  const std::string blob = Join(seed);
  // Mostly cut inside the length prefix or the header, sometimes in the data.
  const std::size_t limit = rng() % 4 == 0 ? blob.size() : 8 + seed.header.size();
  return blob.substr(0, rng() % (limit + 1));
}

std::string ReplacementNumber(const std::string& original, std::mt19937_64& rng) {
  static const char* const kSpecial[] = {"0",
                                         "1",
                                         "-1",
                                         "7",
                                         "4294967296",
                                         "9223372036854775807",
                                         "9223372036854775808",
                                         "18446744073709551615",
                                         "18446744073709551616",
                                         "-9223372036854775809",
                                         "99999999999999999999999",
                                         "1e308",
                                         "1.5",
                                         "1e999",
                                         "-0",
                                         "00",
                                         "1e2"};
  const uint64_t value = original.size() < 19 ? std::stoull(original) : 0;
  switch (rng() % 5) {
    case 0:
      return kSpecial[rng() % (sizeof(kSpecial) / sizeof(kSpecial[0]))];
    case 1:
      return std::to_string(value + 1);
    case 2:
      return std::to_string(value == 0 ? 0 : value - 1);
    case 3:
      return std::to_string(value * 2 + rng() % 3);
    default:
      return std::to_string(rng() >> (rng() % 64));
  }
}

// Rewrites digit runs in the header (offsets, shape dimensions) and re-prefixes the new length.
std::string EditNumbers(const SplitFile& seed, std::mt19937_64& rng) {
  std::string header = seed.header;
  const int edits = 1 + static_cast<int>(rng() % 3);
  for (int e = 0; e < edits; ++e) {
    std::vector<std::pair<std::size_t, std::size_t>> runs;
    for (std::size_t i = 0; i < header.size();) {
      if (std::isdigit(static_cast<unsigned char>(header[i]))) {
        std::size_t j = i;
        while (j < header.size() && std::isdigit(static_cast<unsigned char>(header[j]))) ++j;
        runs.emplace_back(i, j - i);
        i = j;
      } else {
        ++i;
      }
    }
    if (runs.empty()) break;
    const auto [at, length] = runs[rng() % runs.size()];
    header.replace(at, length, ReplacementNumber(header.substr(at, length), rng));
  }
  std::string blob = Join({header, seed.data});
  if (rng() % 8 == 0) blob = LengthPrefix(seed.header.size()) + blob.substr(8);  // stale length
  return blob;
}

json RandomValue(std::mt19937_64& rng) {
  switch (rng() % 9) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<int64_t>(rng());
    case 3:
      return -static_cast<int64_t>(rng() % 100);
    case 4:
      return 0.5;
    case 5:
      return std::string(rng() % 2 ? "F8_E4M3" : "Q4_K");
    case 6:
      return json::array({rng() % 64, rng() % 64});
    case 7:
      return json::array({json::array({1}), "x"});
    default:
      return json::object({{"dtype", "U8"}, {"shape", {1}}, {"data_offsets", {0, 1}}});
  }
}

json* RandomNode(json& root, std::mt19937_64& rng) {
  json* node = &root;
  const int depth = static_cast<int>(rng() % 4);
  for (int d = 0; d < depth && (node->is_object() || node->is_array()) && !node->empty(); ++d) {
    auto it = node->begin();
    std::advance(it, rng() % node->size());
    node = &*it;
  }
  return node;
}

// Structural edits of the parsed header: delete, retype, copy or swap entries and fields, or
// splice in a duplicate key (which the JSON object model cannot hold, so as text).
std::string EditJson(const SplitFile& seed, std::mt19937_64& rng) {
  json header = json::parse(seed.header);
  std::vector<std::string> names;
  for (auto it = header.begin(); it != header.end(); ++it) names.push_back(it.key());
  const std::string& name = names[rng() % names.size()];
  std::string text;
  switch (rng() % 8) {
    case 0: {  // drop a field or a whole entry
      json& entry = header[name];
      if (entry.is_object() && !entry.empty() && rng() % 2) {
        auto it = entry.begin();
        std::advance(it, rng() % entry.size());
        entry.erase(it.key());
      } else {
        header.erase(name);
      }
      break;
    }
    case 1:  // replace any node with a value of a random type
      *RandomNode(header, rng) = RandomValue(rng);
      break;
    case 2: {  // swap the spans of two tensors
      const std::string& other = names[rng() % names.size()];
      if (header[name].contains("data_offsets") && header[other].contains("data_offsets")) {
        std::swap(header[name]["data_offsets"], header[other]["data_offsets"]);
      }
      break;
    }
    case 3:  // a copy of an entry under a new name: its span overlaps the original's
      header["copy." + name] = header[name];
      break;
    case 4:  // an extra or missing shape dimension
      if (header[name].contains("shape") && header[name]["shape"].is_array()) {
        if (rng() % 2) {
          header[name]["shape"].push_back(rng() % 3);
        } else if (!header[name]["shape"].empty()) {
          header[name]["shape"].erase(header[name]["shape"].size() - 1);
        }
      }
      break;
    case 5:  // metadata of the wrong shape
      header["__metadata__"] =
          rng() % 2 ? RandomValue(rng) : json::object({{"k", RandomValue(rng)}});
      break;
    case 6: {  // a duplicate key spliced into the text
      text = header.dump();
      const std::string entry = "\"" + name + "\":" + header[name].dump() + ",";
      text.insert(1, entry);
      break;
    }
    default:  // a random dtype spelling
      if (header[name].is_object()) {
        static const char* const kDTypes[] = {"F64",     "F32",  "F16", "BF16", "F8_E4M3",
                                              "F8_E5M2", "I64",  "I32", "I16",  "I8",
                                              "U8",      "BOOL", "U16", "",     "F8_E4M3FN"};
        header[name]["dtype"] = kDTypes[rng() % (sizeof(kDTypes) / sizeof(kDTypes[0]))];
      }
      break;
  }
  if (text.empty()) text = header.dump();
  return Join({text, seed.data});
}

std::string EditLength(const SplitFile& seed, std::mt19937_64& rng) {
  const std::string blob = Join(seed);
  const uint64_t lengths[] = {0,
                              seed.header.size() - 1,
                              seed.header.size() + 1,
                              seed.header.size() + seed.data.size(),
                              seed.header.size() + seed.data.size() + 1,
                              SafetensorsFile::kMaxHeaderBytes,
                              SafetensorsFile::kMaxHeaderBytes + 1,
                              ~uint64_t{0},
                              ~uint64_t{0} - 7,
                              rng()};
  return LengthPrefix(lengths[rng() % (sizeof(lengths) / sizeof(lengths[0]))]) + blob.substr(8);
}

// --- invariants of an accepted file ----------------------------------------------------------

// `header_length` is the length prefix of the accepted file.
void ExpectConsistent(const SafetensorsFile& file, uint64_t header_length,
                      const std::string& context) {
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const TensorInfo& info : file.tensors()) {
    SCOPED_TRACE(context + " tensor " + info.name);
    ASSERT_EQ(file.Find(info.name), &info);
    ASSERT_LE(info.begin, info.end);
    uint64_t bytes = DTypeSize(info.dtype);
    for (int64_t dim : info.shape) {
      ASSERT_GE(dim, 0);
      ASSERT_FALSE(__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim), &bytes));
    }
    ASSERT_EQ(bytes, info.nbytes());
    const uint8_t* data = file.Data(info);
    ASSERT_LE(info.end, file.file_size() - 8 - header_length) << "span past the data section";
    if (info.nbytes() > 0) {
      // Reading the first and last byte faults if the span left the mapping.
      volatile uint8_t sink = data[0];
      sink = data[info.nbytes() - 1];
      (void)sink;
      spans.emplace_back(info.begin, info.end);
    }
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i) {
    ASSERT_LE(spans[i - 1].second, spans[i].first) << context << ": overlapping spans accepted";
  }
}

TEST(SafetensorsFuzz, DamagedHeadersAreAcceptedConsistentlyOrRejectedWithCheckpointError) {
  ScratchDir dir;
  const std::vector<SplitFile> seeds = SeedFiles(dir);
  const std::string path = dir.File("case.safetensors");
  using Mutation = std::function<std::string(const SplitFile&, std::mt19937_64&)>;
  const std::vector<std::pair<const char*, Mutation>> mutations = {{"flip", FlipBytes},
                                                                   {"truncate", Truncate},
                                                                   {"numbers", EditNumbers},
                                                                   {"json", EditJson},
                                                                   {"length", EditLength}};
  constexpr int kCasesPerMutationAndSeed = 600;

  std::map<CheckpointError::Code, int> rejected;
  int accepted = 0;
  for (std::size_t s = 0; s < seeds.size(); ++s) {
    for (std::size_t m = 0; m < mutations.size(); ++m) {
      std::mt19937_64 rng(1000 * s + m + 1);  // fixed: a failure names a reproducible case
      for (int i = 0; i < kCasesPerMutationAndSeed; ++i) {
        const std::string context = std::string(mutations[m].first) + " seed " + std::to_string(s) +
                                    " case " + std::to_string(i);
        const std::string blob = mutations[m].second(seeds[s], rng);
        // A fresh inode each time: truncating a file in place makes ext4 flush it (slow).
        std::filesystem::remove(path);
        WriteBytes(path, blob);
        try {
          auto file = SafetensorsFile::Open(path);
          uint64_t header_length = 0;
          for (int b = 7; b >= 0; --b) header_length = (header_length << 8) | uint8_t(blob[b]);
          ExpectConsistent(*file, header_length, context);
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
  for (const auto& [code, count] : rejected) total_rejected += count;
  EXPECT_GT(total_rejected, 1000);
  std::string seen;
  for (const auto& [code, count] : rejected) {
    seen += std::string(CheckpointError::CodeName(code)) + "=" + std::to_string(count) + " ";
  }
  EXPECT_GE(rejected.size(), 10u) << seen;
  std::cout << "accepted " << accepted << ", rejected: " << seen << "\n";
}

}  // namespace
}  // namespace streamdit::engine
