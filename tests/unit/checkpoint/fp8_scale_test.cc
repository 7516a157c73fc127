// Scaled fp8 files (ComfyUI's "*.scale_weight" beside each F8_E4M3 weight): Checkpoint reads each
// scale into its weight's TensorRef, from any of the float dtypes the files use, and a malformed
// scale is a CheckpointError naming the file, the tensor and what is wrong with it.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;
using testing_files::CaptureCheckpointError;
using testing_files::ScratchDir;

void AddFp8Weight(SafetensorsWriter& writer, const std::string& name,
                  DType dtype = DType::kF8E4M3) {
  const std::vector<uint8_t> codes = {0x38, 0xB8, 0x40, 0x00};  // 1, -1, 2, 0 in e4m3
  writer.Add(name, dtype, {2, 2}, codes.data(), codes.size());
}

void AddF32(SafetensorsWriter& writer, const std::string& name, const std::vector<int64_t>& shape,
            const std::vector<float>& values) {
  writer.Add(name, DType::kF32, shape, values.data(), values.size() * sizeof(float));
}

TEST(ScaledFp8, EachScaleReachesItsWeightWhateverItsFloatType) {
  ScratchDir dir;
  const std::string path = dir.File("flux1-dev-fp8-scaled.safetensors");
  SafetensorsWriter writer;
  AddFp8Weight(writer, "a.weight");
  AddF32(writer, "a.scale_weight", {}, {0.25f});
  AddFp8Weight(writer, "b.weight");
  AddF32(writer, "b.scale_weight", {1}, {3.0f});  // some files store shape [1]
  AddFp8Weight(writer, "c.weight");
  const uint16_t half_two = 0x4000, bf16_half = 0x3F00;  // 2.0 in f16, 0.5 in bf16
  writer.Add("c.scale_weight", DType::kF16, {}, &half_two, sizeof(half_two));
  AddFp8Weight(writer, "d.weight");
  writer.Add("d.scale_weight", DType::kBF16, {}, &bf16_half, sizeof(bf16_half));
  AddFp8Weight(writer, "plain.weight");  // an fp8 weight without a scale keeps 1
  const uint8_t marker = 0;              // the marker tensor is empty
  writer.Add("scaled_fp8", DType::kF8E4M3, {0}, &marker, 0);
  writer.Write(path);

  const Checkpoint checkpoint = Checkpoint::Open(path);
  EXPECT_EQ(checkpoint.Require("a.weight").scale, 0.25f);
  EXPECT_EQ(checkpoint.Require("b.weight").scale, 3.0f);
  EXPECT_EQ(checkpoint.Require("c.weight").scale, 2.0f);
  EXPECT_EQ(checkpoint.Require("d.weight").scale, 0.5f);
  EXPECT_EQ(checkpoint.Require("plain.weight").scale, 1.0f);
  // Through a prefix view (all-in-one files) the scale stays with its weight.
  SafetensorsWriter all_in_one;
  AddFp8Weight(all_in_one, "model.diffusion_model.a.weight");
  AddF32(all_in_one, "model.diffusion_model.a.scale_weight", {}, {0.125f});
  const std::string combined = dir.File("all.safetensors");
  all_in_one.Write(combined);
  EXPECT_EQ(
      Checkpoint::Open(combined).WithPrefix("model.diffusion_model.").Require("a.weight").scale,
      0.125f);
}

struct BadScale {
  const char* what;
  std::function<void(SafetensorsWriter&)> write;
  Code code;
  const char* tensor;
  const char* says;
};

TEST(ScaledFp8, MalformedScalesNameFileTensorAndField) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<BadScale> cases = {
      {"two values",
       [](SafetensorsWriter& w) {
         AddFp8Weight(w, "a.weight");
         AddF32(w, "a.scale_weight", {2}, {1.0f, 2.0f});
       },
       Code::kBadShape, "a.scale_weight", "one value"},
      {"a bf16 weight",
       [](SafetensorsWriter& w) {
         const std::vector<uint16_t> values(4, 0x3F80);
         w.Add("a.weight", DType::kBF16, {2, 2}, values.data(), values.size() * 2);
         AddF32(w, "a.scale_weight", {}, {1.0f});
       },
       Code::kInvalidEntry, "a.scale_weight", "not fp8"},
      {"no weight", [](SafetensorsWriter& w) { AddF32(w, "a.scale_weight", {}, {1.0f}); },
       Code::kMissingTensor, "a.weight", "does not hold it"},
      {"NaN",
       [nan](SafetensorsWriter& w) {
         AddFp8Weight(w, "a.weight");
         AddF32(w, "a.scale_weight", {}, {nan});
       },
       Code::kInvalidEntry, "a.scale_weight", "not finite and nonzero"},
      {"zero",
       [](SafetensorsWriter& w) {
         AddFp8Weight(w, "a.weight");
         AddF32(w, "a.scale_weight", {}, {0.0f});
       },
       Code::kInvalidEntry, "a.scale_weight", "not finite and nonzero"},
      {"an integer scale",
       [](SafetensorsWriter& w) {
         AddFp8Weight(w, "a.weight");
         const int32_t one = 1;
         w.Add("a.scale_weight", DType::kI32, {}, &one, sizeof(one));
       },
       Code::kInvalidEntry, "a.scale_weight", "F32, F16 or BF16"},
  };
  for (const BadScale& c : cases) {
    SCOPED_TRACE(c.what);
    ScratchDir dir;
    const std::string path = dir.File("t5xxl_fp8_e4m3fn_scaled.safetensors");
    SafetensorsWriter writer;
    c.write(writer);
    writer.Write(path);
    const std::optional<CheckpointError> error =
        CaptureCheckpointError([&] { Checkpoint::Open(path); });
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->code(), c.code) << error->what();
    EXPECT_EQ(error->file(), path);
    EXPECT_EQ(error->tensor(), c.tensor) << error->what();
    EXPECT_NE(std::string(error->what()).find(c.says), std::string::npos) << error->what();
  }
}

}  // namespace
}  // namespace streamdit::engine
