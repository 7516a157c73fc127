// Issue 13: bad LoRA files each get a clear error naming the file and the key (DATA_LOSS: the
// file is there but unusable; NOT_FOUND when it cannot be read), never a crash.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <limits>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/lora/lora_loader.h"
#include "engine/pipeline/flux_pipeline.h"
#include "lora_pairs.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

const LoraTargets& Targets() {
  static const FluxPipeline* pipeline =
      new FluxPipeline(FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir())));
  static const LoraTargets targets = LoraTargets::Of(pipeline->models());
  return targets;
}

struct BadFile {
  const char* name;
  std::function<void(SafetensorsWriter&)> fill;
  std::string key;       // the key the message must name
  std::string contains;  // and what it must say
};

constexpr char kQkv[] = "lora_unet_double_blocks_0_img_attn_qkv";

void Pair(SafetensorsWriter& writer, const std::string& stem, torch::Tensor down,
          torch::Tensor up) {
  AddTensor(writer, stem + ".lora_down.weight", down, DType::kF32);
  AddTensor(writer, stem + ".lora_up.weight", up, DType::kF32);
}

TEST(LoraFileErrors, EachNamesTheFileAndTheKey) {
  const std::vector<BadFile> cases = {
      {"wrong_shape",
       [](SafetensorsWriter& w) {
         Pair(w, kQkv, torch::zeros({4, 100}), torch::zeros({768, 4}));
       },
       std::string(kQkv) + ".lora_down.weight", "but the layer takes 256 inputs"},
      {"wrong_rows",
       [](SafetensorsWriter& w) {
         Pair(w, kQkv, torch::zeros({4, 256}), torch::zeros({700, 4}));
       },
       std::string(kQkv) + ".lora_up.weight", "but the layer has 768 outputs"},
      {"rank_mismatch",
       [](SafetensorsWriter& w) {
         Pair(w, kQkv, torch::zeros({4, 256}), torch::zeros({768, 3}));
       },
       std::string(kQkv) + ".lora_up.weight", "has rank 3 but"},
      {"nan",
       [](SafetensorsWriter& w) {
         torch::Tensor down = torch::zeros({4, 256});
         down[1][7] = std::numeric_limits<float>::quiet_NaN();
         Pair(w, kQkv, down, torch::zeros({768, 4}));
       },
       std::string(kQkv) + ".lora_down.weight", "contains NaN or infinite values"},
      {"unknown_format",
       [](SafetensorsWriter& w) {
         AddTensor(w, "model.layer.weight", torch::zeros({2}), DType::kF32);
       },
       "model.layer.weight", "not a LoRA file of a known format"},
      {"unknown_layer",
       [](SafetensorsWriter& w) {
         Pair(w, "lora_unet_double_blocks_9_img_attn_qkv", torch::zeros({4, 256}),
              torch::zeros({768, 4}));
       },
       "lora_unet_double_blocks_9_img_attn_qkv.lora_down.weight", "names no linear layer"},
      {"missing_half",
       [](SafetensorsWriter& w) {
         AddTensor(w, std::string(kQkv) + ".lora_down.weight", torch::zeros({4, 256}), DType::kF32);
       },
       std::string(kQkv) + ".lora_down.weight", "lacks its up"},
      {"integer_dtype",
       [](SafetensorsWriter& w) {
         AddTensor(w, std::string(kQkv) + ".lora_down.weight", torch::zeros({4, 256}), DType::kI32);
         AddTensor(w, std::string(kQkv) + ".lora_up.weight", torch::zeros({768, 4}), DType::kF32);
       },
       std::string(kQkv) + ".lora_down.weight", "must be F32, F16, BF16 or F64"},
      {"loha",
       [](SafetensorsWriter& w) {
         AddTensor(w, std::string(kQkv) + ".hada_w1_a", torch::zeros({4, 256}), DType::kF32);
         Pair(w, kQkv, torch::zeros({4, 256}), torch::zeros({768, 4}));
       },
       std::string(kQkv) + ".hada_w1_a", "LoHa, LoKr and DoRA tensors are not supported"},
  };
  PipelineScratchDir scratch;
  for (const BadFile& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = scratch.File(std::string(c.name) + ".safetensors");
    SafetensorsWriter writer;
    c.fill(writer);
    writer.Write(path);
    try {
      LoadLoraAdapter(path, c.name, Targets());
      ADD_FAILURE() << "no error";
    } catch (const CheckpointError& error) {
      EXPECT_EQ(error.status().code(), absl::StatusCode::kDataLoss);
      const std::string message = error.what();
      EXPECT_NE(message.find(path), std::string::npos) << message;
      EXPECT_NE(message.find(c.key), std::string::npos) << message;
      EXPECT_NE(message.find(c.contains), std::string::npos) << message;
    }
  }
}

TEST(LoraFileErrors, TruncatedAndMissingFiles) {
  PipelineScratchDir scratch;
  const std::string path = scratch.File("cut.safetensors");
  test_support::WriteLoraFile(path, test_support::LoraFileFormat::kKohya,
                              lora_testing::KohyaPairs(), 1);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  try {
    LoadLoraAdapter(path, "cut", Targets());
    ADD_FAILURE() << "no error";
  } catch (const CheckpointError& error) {
    EXPECT_EQ(error.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
  try {
    LoadLoraAdapter(scratch.File("absent.safetensors"), "absent", Targets());
    ADD_FAILURE() << "no error";
  } catch (const CheckpointError& error) {
    EXPECT_EQ(error.status().code(), absl::StatusCode::kNotFound);
  }
}

}  // namespace
}  // namespace streamdit::engine
