// GGUF files written by gguf-py's GGUFWriter (tests/reference/gguf_reference.py), read back by the
// C++ reader: every metadata value and tensor info as gguf's GGUFReader sees them, the logical
// shapes as numpy had them, and each tensor's dequantization bit-exact with gguf's. Also the
// reader's API on the small hand-built file (tests/unit/checkpoint/gguf_test_files.h).
#include "engine/checkpoint/gguf_file.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "tests/support/file_bytes.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/status_testing.h"
#include "tests/unit/checkpoint/gguf_test_files.h"

namespace streamdit::engine {
namespace {

using json = nlohmann::json;
using test_support::ScratchDir;

// GGUFReader's names of the value types.
GgufValueType TypeFromGgufName(const std::string& name) {
  static const char* const kNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                       "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                       "UINT64", "INT64",   "FLOAT64"};
  for (uint32_t i = 0; i < 13; ++i) {
    if (name == kNames[i]) return static_cast<GgufValueType>(i);
  }
  throw std::runtime_error("unknown GGUF type name " + name);
}

// A scalar as JSON, for comparison with GGUFReader's contents().
json ScalarJson(const GgufValue& value) {
  if (auto text = value.AsString()) return std::string(*text);
  if (auto flag = value.AsBool()) return *flag;
  if (auto number = value.AsDouble()) return *number;
  if (auto integer = value.AsInt64()) return *integer;
  return *value.AsUint64();
}

// GGUFReader flattens nested arrays into their leaves; so does this.
void AppendLeaves(const GgufValue& value, json& leaves) {
  if (!value.is_array()) {
    leaves.push_back(ScalarJson(value));
    return;
  }
  for (uint64_t i = 0; i < value.size(); ++i) AppendLeaves(value.Element(i), leaves);
}

void ExpectSameFloats(const std::vector<float>& actual, const std::string& expected_bytes,
                      const std::string& context) {
  ASSERT_EQ(actual.size() * sizeof(float), expected_bytes.size()) << context;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    float expected;
    std::memcpy(&expected, expected_bytes.data() + 4 * i, 4);
    if (std::isnan(expected) && std::isnan(actual[i])) continue;
    uint32_t a, e;
    std::memcpy(&a, &actual[i], 4);
    std::memcpy(&e, &expected, 4);
    ASSERT_EQ(a, e) << context << " element " << i << ": " << actual[i] << " vs " << expected;
  }
}

class GgufWrittenByGguf : public ::testing::TestWithParam<int> {};

TEST_P(GgufWrittenByGguf, ReadsWhatGgufReaderReads) {
  const int alignment = GetParam();  // 0: gguf's default (32)
  ScratchDir dir("gguf_file");
  const std::string path = dir.File("model.gguf");
  test_support::RunPythonReference(
      "gguf_reference.py", "write " + path + " " + dir.path() + " " + std::to_string(alignment));
  const json manifest = json::parse(test_support::ReadFile(dir.File("manifest.json")));

  const auto file = GgufFile::Open(path);
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->alignment(), alignment == 0 ? 32u : static_cast<uint64_t>(alignment));
  EXPECT_EQ(file->alignment(), manifest["alignment"].get<uint64_t>());
  EXPECT_EQ(file->data_offset(), manifest["data_offset"].get<uint64_t>());

  // Metadata: same keys in the same order, same types and values.
  const json& metadata = manifest["metadata"];
  ASSERT_EQ(file->metadata().size(), metadata.size());
  for (std::size_t i = 0; i < metadata.size(); ++i) {
    const auto& [key, value] = file->metadata()[i];
    const json& expected = metadata[i];
    SCOPED_TRACE(key);
    ASSERT_EQ(key, expected["key"].get<std::string>());
    ASSERT_EQ(file->FindMetadata(key), &value);
    const json& types = expected["types"];
    EXPECT_EQ(value.type(), TypeFromGgufName(types[0]));
    if (!value.is_array()) {
      EXPECT_EQ(ScalarJson(value), expected["value"]);
      continue;
    }
    EXPECT_EQ(value.element_type(), TypeFromGgufName(types[1]));
    json leaves = json::array();
    AppendLeaves(value, leaves);
    EXPECT_EQ(leaves, expected["value"]);
  }

  // The same values through the typed lookups, against what the script wrote.
  EXPECT_EQ(file->GetString("general.architecture"), "flux");
  EXPECT_EQ(file->GetInt64("test.i8"), -128);
  EXPECT_EQ(file->GetInt64("test.u32"), 4294967295ll);
  EXPECT_EQ(file->GetInt64("test.i64"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(file->GetUint64("test.u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(file->GetDouble("test.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(file->GetDouble("test.f64"), -2.5e-300);
  EXPECT_TRUE(file->GetBool("test.bool_true"));
  EXPECT_FALSE(file->GetBool("test.bool_false"));
  EXPECT_EQ(file->GetString("test.string"), "FLUX.1 \u2014 schnell \u2713");
  EXPECT_EQ(file->GetString("test.empty_string"), "");
  EXPECT_EQ(file->GetInt64Array("test.ints"), (std::vector<int64_t>{1, -2, 300000}));
  EXPECT_EQ(file->GetInt64Array("test.u8_array"), (std::vector<int64_t>{0, 7, 255}));
  EXPECT_EQ(file->GetInt64Array("test.i64_array"),
            (std::vector<int64_t>{std::numeric_limits<int64_t>::min(),
                                  std::numeric_limits<int64_t>::max()}));
  const std::vector<double> f64 = file->GetDoubleArray("test.f64_array");
  ASSERT_EQ(f64.size(), 2u);
  EXPECT_EQ(f64[0], 1e-300);
  EXPECT_TRUE(f64[1] == 0.0 && std::signbit(f64[1]));
  EXPECT_EQ(file->GetDoubleArray("test.floats")[2], static_cast<double>(3.0e38f));
  EXPECT_EQ(file->GetStringArray("test.strings"),
            (std::vector<std::string>{"double_blocks", "", "single_blocks.37"}));
  // Nested: [[1, 2], [3], [[4, 5], [6]]] keeps its structure.
  const GgufValue& nested = *file->FindMetadata("test.nested");
  ASSERT_EQ(nested.size(), 3u);
  EXPECT_EQ(nested.Element(0).AsInt64Array(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nested.Element(1).AsInt64Array(), (std::vector<int64_t>{3}));
  EXPECT_EQ(nested.Element(2).element_type(), GgufValueType::kArray);
  EXPECT_EQ(nested.Element(2).Element(0).AsInt64Array(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(nested.DebugString(), "[[1, 2], [3], [[4, 5], [6]]]");
  EXPECT_EQ(file->FindMetadata("test.nested_strings")->Element(0).AsStringArray(),
            (std::vector<std::string_view>{"a", "bc"}));

  // Tensors: order, types, both shapes, spans, and values.
  const json& tensors = manifest["tensors"];
  ASSERT_EQ(file->tensors().size(), tensors.size());
  ASSERT_EQ(tensors.size(), 13u);
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& info = file->tensors()[i];
    const json& expected = tensors[i];
    SCOPED_TRACE(info.name);
    ASSERT_EQ(info.name, expected["name"].get<std::string>());
    EXPECT_EQ(file->Find(info.name), &info);
    EXPECT_EQ(static_cast<uint32_t>(info.type), expected["type"].get<uint32_t>());
    EXPECT_EQ(info.dims, expected["ggml_dims"].get<std::vector<int64_t>>());
    EXPECT_EQ(info.shape, expected["numpy_shape"].get<std::vector<int64_t>>());
    EXPECT_EQ(file->data_offset() + info.offset, expected["data_offset"].get<uint64_t>());
    EXPECT_EQ(info.nbytes, expected["n_bytes"].get<uint64_t>());
    EXPECT_EQ(info.offset % file->alignment(), 0u);
    ExpectSameFloats(file->Dequantize(info.name),
                     test_support::ReadFile(dir.File("tensor_" + std::to_string(i) + ".f32")),
                     info.name);
  }
  // Spot checks that the manifest is not vacuous: numpy's shapes, as the script wrote them.
  EXPECT_EQ(file->Find("img_in.bias")->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(file->Find("img_in.bias")->dims, (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(file->Find("single_blocks.0.linear2.weight")->shape,
            (std::vector<int64_t>{1, 2, 3, 32}));
  EXPECT_EQ(file->Find("final_layer.q4")->shape, (std::vector<int64_t>{3, 512}));
  EXPECT_EQ(file->Find("double_blocks.0.img_mlp.0.weight")->type, GgmlType::kQ4_0);

  // Version 2 has the same layout for little-endian files.
  std::string bytes = test_support::ReadFile(path);
  bytes[4] = 2;
  const std::string v2 = dir.File("v2.gguf");
  test_support::WriteFile(v2, bytes);
  const auto file_v2 = GgufFile::Open(v2);
  EXPECT_EQ(file_v2->version(), 2u);
  EXPECT_EQ(file_v2->Dequantize("final_layer.q6"), file->Dequantize("final_layer.q6"));
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufWrittenByGguf, ::testing::Values(0, 64, 128),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("Default")
                                                  : "Align" + std::to_string(info.param);
                         });

// --- the API on the small hand-built file ------------------------------------------------------

TEST(GgufFile, SmallFileReadsBack) {
  ScratchDir dir("gguf_file");
  const std::string path = dir.File("small.gguf");
  test_support::WriteFile(path, testing_files::SmallGguf().Serialize());
  const auto file = GgufFile::Open(path);
  EXPECT_EQ(file->path(), path);
  EXPECT_EQ(file->alignment(), 32u);
  EXPECT_EQ(file->data_offset() % 32, 0u);
  EXPECT_EQ(file->file_size(), file->data_offset() + 32 + 34);
  EXPECT_EQ(file->GetString("general.architecture"), "flux");
  EXPECT_EQ(file->GetInt64("flux.depth"), 19);
  EXPECT_EQ(file->GetStringArray("tokenizer.tokens"), (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(file->FindMetadata("missing"), nullptr);

  const GgufTensorInfo& weight = *file->Find("img_in.weight");
  EXPECT_EQ(weight.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(weight.numel, 6);
  EXPECT_EQ(weight.nbytes, 24u);
  EXPECT_EQ(file->Data(weight), file->Data(weight));  // stable pointer into the mapping
  EXPECT_EQ(file->Dequantize("img_in.weight"),
            (std::vector<float>{-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f}));
  const std::vector<float> q8 = file->Dequantize("final_layer.linear.weight");
  ASSERT_EQ(q8.size(), 32u);
  EXPECT_EQ(q8[0], -16.0f);
  EXPECT_EQ(q8[31], 15.0f);
  std::vector<float> into(6);
  file->Dequantize(weight, into.data());
  EXPECT_EQ(into[5], 2.5f);
}

TEST(GgufFile, LookupErrorsNameFileAndKey) {
  ScratchDir dir("gguf_file");
  const std::string path = dir.File("small.gguf");
  test_support::WriteFile(path, testing_files::SmallGguf().Serialize());
  const auto file = GgufFile::Open(path);
  const auto expect_error = [&](auto&& lookup, CheckpointError::Code code,
                                const std::string& fragment) {
    try {
      lookup();
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const CheckpointError& error) {
      EXPECT_EQ(error.code(), code) << error.what();
      EXPECT_EQ(error.status().code(), absl::StatusCode::kDataLoss);
      EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
  };
  using Code = CheckpointError::Code;
  expect_error([&] { file->GetString("flux.depth"); }, Code::kInvalidEntry,
               "metadata 'flux.depth' is uint32 19, expected a string");
  expect_error([&] { file->GetInt64("general.architecture"); }, Code::kInvalidEntry,
               "'general.architecture' is string \"flux\"");
  expect_error([&] { file->GetDouble("flux.depth"); }, Code::kInvalidEntry, "float");
  expect_error([&] { file->GetInt64Array("tokenizer.tokens"); }, Code::kInvalidEntry,
               "array<string>");
  expect_error([&] { file->GetBool("flux.guidance"); }, Code::kMissingTensor,
               "metadata 'flux.guidance' is missing");
  expect_error([&] { file->Dequantize("nope"); }, Code::kMissingTensor, "tensor 'nope'");
  // A tensor info from elsewhere is the caller's bug, not the file's.
  GgufTensorInfo stranger = *file->Find("img_in.weight");
  EXPECT_INVALID_ARGUMENT(file->Data(stranger));
}

}  // namespace
}  // namespace streamdit::engine
