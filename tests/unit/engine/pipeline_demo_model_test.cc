// The demo model set: real file names and layouts that every loader recognises, the sizes it
// promises, byte-for-byte determinism, and clear errors for missing or corrupt component files.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/demo/demo_model.h"
#include "engine/flux/flux_transformer.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/text/clip_text_encoder.h"
#include "engine/text/t5_encoder.h"
#include "engine/text/t5_tokenizer.h"
#include "engine/vae/vae_decoder.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

namespace fs = std::filesystem;
using pipeline_testing::PipelineScratchDir;
using pipeline_testing::ReadFile;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;
using pipeline_testing::SourcePath;

TEST(PipelineDemoModelTest, FilesHaveTheRealNamesAndTheDocumentedSizes) {
  const std::string dir = SharedDemoModelDir();
  const ModelPaths paths = FindModelFiles(dir);
  EXPECT_EQ(fs::path(paths.transformer.at(0)).filename().string(), "flux1-demo.safetensors");
  EXPECT_EQ(fs::path(paths.ae.at(0)).filename().string(), "ae.safetensors");
  EXPECT_EQ(fs::path(paths.t5.at(0)).filename().string(), "t5xxl_fp16.safetensors");
  EXPECT_EQ(fs::path(paths.clip.at(0)).filename().string(), "clip_l.safetensors");
  EXPECT_EQ(fs::path(paths.t5_tokenizer).filename().string(), "spiece.model");
  EXPECT_EQ(fs::path(paths.clip_vocab).filename().string(), "vocab.json");
  EXPECT_EQ(fs::path(paths.clip_merges).filename().string(), "merges.txt");

  const FluxPipeline pipeline = FluxPipeline::Load(SmallDemoConfig(dir));
  const DemoModelSizes sizes;
  const FluxConfig& flux = pipeline.transformer().config();
  EXPECT_EQ(flux.layout, FluxLayout::kBfl);
  EXPECT_EQ(flux.hidden_size, sizes.hidden);
  EXPECT_EQ(flux.num_heads, sizes.hidden / sizes.head_dim);
  EXPECT_EQ(flux.depth, sizes.double_blocks);
  EXPECT_EQ(flux.depth_single_blocks, sizes.single_blocks);
  EXPECT_EQ(flux.axes_dim, sizes.axes_dim);  // from the flux_config metadata
  EXPECT_TRUE(flux.guidance_embed);
  EXPECT_EQ(flux.context_in_dim, pipeline.t5().config().d_model);
  EXPECT_EQ(flux.vec_in_dim, pipeline.clip().config().hidden);

  EXPECT_EQ(pipeline.t5().config().d_model, sizes.t5_d_model);
  EXPECT_EQ(pipeline.t5().config().num_layers, sizes.t5_layers);
  EXPECT_EQ(pipeline.clip().config().hidden, sizes.clip_hidden);
  EXPECT_EQ(pipeline.clip().config().layers, sizes.clip_layers);
  EXPECT_EQ(pipeline.clip().config().max_positions, 77);

  const VaeDecoderConfig& vae = pipeline.vae().config();
  EXPECT_EQ(pipeline.vae().layout(), VaeLayout::kBfl);
  EXPECT_EQ(vae.ch, sizes.vae_ch);
  EXPECT_EQ(vae.ch_mult, sizes.vae_ch_mult);
  EXPECT_EQ(vae.upsample_factor(), 8);
  EXPECT_EQ(vae.z_channels, 16);

  // The ae file holds the encoder too, as the real one does.
  const Checkpoint ae = Checkpoint::Open(paths.ae);
  EXPECT_TRUE(ae.Has("encoder.conv_in.weight"));
  EXPECT_TRUE(ae.Has("encoder.conv_out.weight"));
  EXPECT_EQ(T5Tokenizer::Load(paths.t5_tokenizer).piece_count(), sizes.t5_vocab_pieces);
}

TEST(PipelineDemoModelTest, SameBytesOnEveryRun) {
  PipelineScratchDir again;
  const std::vector<std::string> written =
      WriteDemoModel(again.path(), SourcePath("assets/demo_corpus.txt"));
  ASSERT_EQ(written.size(), 7u);
  for (const std::string& file : written) {
    const std::string name = fs::path(file).filename().string();
    EXPECT_EQ(ReadFile(file), ReadFile(SharedDemoModelDir() + "/" + name)) << name;
  }
  EXPECT_TRUE(DemoModelExists(again.path()));
  fs::remove(again.File("merges.txt"));
  EXPECT_FALSE(DemoModelExists(again.path()));
}

TEST(PipelineDemoModelTest, DifferentSeedGivesDifferentWeights) {
  PipelineScratchDir other;
  DemoModelSizes sizes;
  sizes.seed += 1;
  WriteDemoModel(other.path(), SourcePath("assets/demo_corpus.txt"), sizes);
  EXPECT_NE(ReadFile(other.File("flux1-demo.safetensors")),
            ReadFile(SharedDemoModelDir() + "/flux1-demo.safetensors"));
  // The tokenizers depend on the corpus only.
  EXPECT_EQ(ReadFile(other.File("spiece.model")), ReadFile(SharedDemoModelDir() + "/spiece.model"));
}

// A copy of the demo model to damage.
class DamagedModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& entry : fs::directory_iterator(SharedDemoModelDir())) {
      fs::copy_file(entry.path(), dir_.File(entry.path().filename().string()));
    }
  }
  // The CheckpointError's message when loading the damaged copy.
  std::string LoadError() {
    try {
      FluxPipeline::Load(SmallDemoConfig(dir_.path()));
    } catch (const CheckpointError& error) {
      return error.what();
    }
    ADD_FAILURE() << "expected a CheckpointError";
    return "";
  }

  PipelineScratchDir dir_;
};

TEST_F(DamagedModelTest, MissingFileIsNamed) {
  for (const char* name : {"ae.safetensors", "clip_l.safetensors", "spiece.model", "vocab.json"}) {
    const std::string saved = ReadFile(dir_.File(name));
    fs::remove(dir_.File(name));
    EXPECT_NE(LoadError().find(name), std::string::npos) << name;
    pipeline_testing::WriteFile(dir_.File(name), saved);
  }
  // Explicit paths (a config naming the files) report the missing one too.
  PipelineConfig config = SmallDemoConfig(dir_.path());
  config.paths.t5 = {dir_.File("t5xxl_fp8_e4m3fn.safetensors")};
  try {
    FluxPipeline::Load(config);
    FAIL() << "expected a CheckpointError";
  } catch (const CheckpointError& error) {
    EXPECT_NE(std::string(error.what()).find("t5xxl_fp8_e4m3fn.safetensors"), std::string::npos);
    EXPECT_EQ(error.code(), CheckpointError::Code::kIo);
  }
}

TEST_F(DamagedModelTest, CorruptFileIsNamed) {
  // Truncated in the middle of the tensor data: the header's spans point past the end.
  const std::string ae = ReadFile(dir_.File("ae.safetensors"));
  pipeline_testing::WriteFile(dir_.File("ae.safetensors"), ae.substr(0, ae.size() / 2));
  EXPECT_NE(LoadError().find("ae.safetensors"), std::string::npos);
  pipeline_testing::WriteFile(dir_.File("ae.safetensors"), ae);

  pipeline_testing::WriteFile(dir_.File("flux1-demo.safetensors"), "not a safetensors file");
  EXPECT_NE(LoadError().find("flux1-demo.safetensors"), std::string::npos);
}

TEST_F(DamagedModelTest, CorruptTokenizerIsNamed) {
  pipeline_testing::WriteFile(dir_.File("spiece.model"), "garbage");
  EXPECT_NE(LoadError().find("spiece.model"), std::string::npos);
}

}  // namespace
}  // namespace streamdit::engine
