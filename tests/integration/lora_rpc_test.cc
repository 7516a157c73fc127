// LoRAs through the public API (issue 13): the server scans its LoRA folder, ListModels lists each
// LoRA with its rank, targets and bytes (or the error that keeps it from the model), a request
// naming one gets the engine's image with that LoRA, bad names and files get clear errors while
// the server stays up, and ReloadLoras picks up new files.
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "engine/lora/lora_loader.h"
#include "tests/integration/server_test_rig.h"
#include "tests/support/lora_files.h"
#include "tests/support/png_pixels.h"
#include "tests/support/scratch_dir.h"
#include "tests/unit/engine/lora_pairs.h"

namespace streamdit::server::testing {
namespace {

using engine::lora_testing::BflPairs;
using engine::lora_testing::KohyaPairs;
using test_support::LoraFileFormat;

class LoraRpc : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test_support::ScratchDir("streamdit_loras");
    test_support::WriteLoraFile(dir_->File("style.safetensors"), LoraFileFormat::kKohya,
                                KohyaPairs(), 1);
    std::vector<test_support::LoraPair> broken = BflPairs();
    broken[0].in = 100;  // does not fit double_blocks.1.txt_attn.proj
    test_support::WriteLoraFile(dir_->File("broken.safetensors"), LoraFileFormat::kBfl, broken, 2);
    RigOptions options;
    options.lora_dirs = {dir_->path()};
    rig_ = new ServerRig(options);
  }
  static void TearDownTestSuite() {
    delete rig_;
    delete dir_;
  }

  // `strength` unset: the field is left out of the request (the server's default applies).
  static v1::GenerateImageRequest Request(const std::string& lora, std::optional<float> strength) {
    v1::GenerateImageRequest request;
    request.set_prompt("a lantern on a pier");
    request.set_seed(9);
    if (!lora.empty()) {
      v1::LoraAdapter* adapter = request.add_loras();
      adapter->set_name(lora);
      if (strength) adapter->set_strength(*strength);
    }
    return request;
  }

  static std::string Png(const v1::GenerateImageRequest& request) {
    v1::GenerateImageResponse response;
    const grpc::Status status = rig_->Generate(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.images_size() == 1 ? response.images(0).png() : std::string();
  }

  static v1::ModelInfo Model() {
    grpc::ClientContext context;
    v1::ListModelsResponse models;
    EXPECT_TRUE(rig_->stub().ListModels(&context, {}, &models).ok());
    return models.models(0);
  }

  static test_support::ScratchDir* dir_;
  static ServerRig* rig_;
};

test_support::ScratchDir* LoraRpc::dir_ = nullptr;
ServerRig* LoraRpc::rig_ = nullptr;

TEST_F(LoraRpc, ListModelsShowsEachLoraOrItsError) {
  const v1::ModelInfo model = Model();
  ASSERT_EQ(model.loras_size(), 2);
  const v1::LoraInfo& broken = model.loras(0);  // by name
  EXPECT_EQ(broken.name(), "broken");
  EXPECT_NE(broken.error().find(dir_->File("broken.safetensors")), std::string::npos)
      << broken.error();
  EXPECT_NE(broken.error().find("double_blocks.1.txt_attn.proj.lora_A.weight"), std::string::npos)
      << broken.error();
  const v1::LoraInfo& style = model.loras(1);
  EXPECT_EQ(style.name(), "style");
  EXPECT_TRUE(style.error().empty()) << style.error();
  EXPECT_EQ(style.format(), "kohya");
  EXPECT_EQ(style.rank(), 6u);  // the split-qkv pair: 3 x rank 2
  EXPECT_EQ(style.layers(), KohyaPairs().size());
  std::vector<std::string> targets(style.targets().begin(), style.targets().end());
  for (const char* kind : {"clip", "double_blocks", "double_blocks.modulation",
                           "final_layer.modulation", "single_blocks", "t5"}) {
    EXPECT_NE(std::find(targets.begin(), targets.end(), kind), targets.end()) << kind;
  }
  // f32 compute: every pair's down and up as float32, each with the allocator's header.
  int64_t bytes = 0;
  for (const test_support::LoraPair& pair : KohyaPairs()) {
    const int64_t rank = pair.rank * pair.split;
    bytes += rank * pair.in * 4 + 64 + pair.rows * rank * 4 + 64;
  }
  EXPECT_EQ(style.bytes(), static_cast<uint64_t>(bytes));
}

// v1: strength is optional. Left out it is 1.0; 0 is a strength like any other (the LoRA adds
// nothing), not a stand-in for the default as it was before v1.
TEST_F(LoraRpc, StrengthLeftOutIsOneAndZeroIsAskable) {
  const std::string without_lora = Png(Request("", std::nullopt));
  const std::string strength_one = Png(Request("style", 1.0f));
  ASSERT_FALSE(without_lora.empty());
  ASSERT_NE(strength_one, without_lora);  // the LoRA changes the image at all
  EXPECT_EQ(Png(Request("style", std::nullopt)), strength_one);
  // The PNG's parameters chunk names the LoRA at strength 0, so compare the pixels.
  const std::string strength_zero = Png(Request("style", 0.0f));
  ASSERT_FALSE(strength_zero.empty());
  EXPECT_EQ(test_support::DecodeRgb8(strength_zero), test_support::DecodeRgb8(without_lora));
  EXPECT_NE(test_support::DecodeRgb8(strength_one), test_support::DecodeRgb8(without_lora));
}

TEST_F(LoraRpc, ALoraRequestGetsTheEnginesImageWithThatLora) {
  v1::GenerateImageResponse response;
  const grpc::Status status = rig_->Generate(Request("style", 0.8f), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.images_size(), 1);

  const engine::FluxPipeline& pipeline = *rig_->models().default_model().pipeline;
  engine::GenerationRequest direct;
  direct.prompt = "a lantern on a pier";
  direct.seed = 9;
  direct.loras = {{engine::LoadLoraAdapter(dir_->File("style.safetensors"), "style",
                                           engine::LoraTargets::Of(pipeline.models())),
                   0.8f}};
  EXPECT_EQ(response.images(0).png(),
            pipeline.Generate(direct, engine::ExecutionTarget::Cpu()).png.front());
  direct.loras.clear();
  EXPECT_NE(response.images(0).png(),
            pipeline.Generate(direct, engine::ExecutionTarget::Cpu()).png.front());
}

TEST_F(LoraRpc, BadLorasGetClearErrorsAndTheServerStaysUp) {
  struct Case {
    std::string lora;
    float strength;
    grpc::StatusCode code;
    std::vector<std::string> names;
  };
  const std::vector<Case> cases = {
      {"nope", 1, grpc::StatusCode::NOT_FOUND, {"loras[0]", "no LoRA named 'nope'"}},
      {"broken",
       1,
       grpc::StatusCode::FAILED_PRECONDITION,
       {"loras[0]", dir_->File("broken.safetensors"), "txt_attn.proj.lora_A.weight"}},
      {"style", 20, grpc::StatusCode::INVALID_ARGUMENT, {"loras[0].strength must be in [-10, 10]"}},
  };
  for (const Case& c : cases) {
    v1::GenerateImageResponse response;
    const grpc::Status status = rig_->Generate(Request(c.lora, c.strength), &response);
    EXPECT_EQ(status.error_code(), c.code) << c.lora << ": " << status.error_message();
    for (const std::string& name : c.names) {
      EXPECT_NE(status.error_message().find(name), std::string::npos)
          << "'" << status.error_message() << "' should name '" << name << "'";
    }
  }
  v1::GenerateImageResponse response;
  EXPECT_TRUE(rig_->Generate(Request("", 0), &response).ok());
}

TEST_F(LoraRpc, ReloadPicksUpNewFilesAndDropsRemovedOnes) {
  test_support::WriteLoraFile(dir_->File("detail.safetensors"), LoraFileFormat::kBfl, BflPairs(),
                              3);
  grpc::ClientContext context;
  v1::ReloadLorasResponse reload;
  ASSERT_TRUE(rig_->stub().ReloadLoras(&context, {}, &reload).ok());
  EXPECT_EQ(reload.added(), 1u);
  EXPECT_EQ(reload.loras(), 3u);
  EXPECT_EQ(reload.errors_size(), 1);  // broken stays broken
  EXPECT_EQ(Model().loras_size(), 3);
  v1::GenerateImageResponse response;
  const grpc::Status status = rig_->Generate(Request("detail", 1), &response);
  EXPECT_TRUE(status.ok()) << status.error_message();

  std::filesystem::remove(dir_->File("detail.safetensors"));
  grpc::ClientContext again;
  ASSERT_TRUE(rig_->stub().ReloadLoras(&again, {}, &reload).ok());
  EXPECT_EQ(reload.removed(), 1u);
  EXPECT_EQ(rig_->Generate(Request("detail", 1), &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace streamdit::server::testing
