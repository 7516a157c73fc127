// A FLUX folder as diffusers writes it, through the engine, against diffusers itself
// (tests/reference/diffusers_flux_folder.py: FluxPipeline.save_pretrained of tiny random
// components, and FluxPipeline run on the folder; never the engine's code):
//   (1) FindModelFiles takes each component's shards from its .index.json, the tokenizers from
//       the tokenizer.json files transformers 5 writes, and the settings of the scheduler,
//       transformer and VAE configs as diffusers wrote them;
//   (2) those tokenizer.json files segment prompts exactly as the files they were converted from
//       (sentencepiece on spiece.model; vocab.json + merges.txt);
//   (3) the schedule the engine runs is the sigmas diffusers' scheduler runs for the folder;
//   (4) the engine's image (f32) is diffusers' FluxPipeline's (f32, given the engine's initial
//       noise as its latents) within 1 grey level, through the pipeline and through
//       `streamdit generate --model-dir` with every default taken from the folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "diffusers_flux_files.h"
#include "engine/checkpoint/checkpoint.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/sampling/schedule.h"
#include "engine/tensor/stored_tensor.h"
#include "engine/text/clip_tokenizer.h"
#include "engine/text/t5_tokenizer.h"
#include "engine/text/tokenizer_json.h"
#include "server/cli/cli.h"
#include "tests/support/png_pixels.h"

namespace streamdit::engine {
namespace {

namespace fs = std::filesystem;
using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SharedDiffusersFluxDir;

nlohmann::json ReadJson(const std::string& path) {
  return nlohmann::json::parse(pipeline_testing::ReadFile(path));
}

// The shard files an index names, as paths beside it, sorted.
std::vector<std::string> IndexedShards(const std::string& folder, const std::string& index) {
  std::set<std::string> names;
  const nlohmann::json json = ReadJson(folder + "/" + index);  // outlives the loop
  for (const auto& [tensor, shard] : json["weight_map"].items()) {
    names.insert(shard.get<std::string>());
  }
  std::vector<std::string> paths;
  for (const std::string& name : names) paths.push_back(folder + "/" + name);
  return paths;
}

TEST(DiffusersFlux, FindsTheSavedFolderAsItsIndexesAndConfigsSayIt) {
  const std::string dir = SharedDiffusersFluxDir();
  const ModelPaths paths = FindModelFiles(dir);
  const std::vector<std::string> transformer =
      IndexedShards(dir + "/transformer", "diffusion_pytorch_model.safetensors.index.json");
  const std::vector<std::string> t5 =
      IndexedShards(dir + "/text_encoder_2", "model.safetensors.index.json");
  EXPECT_GT(transformer.size(), 1u) << "the writer shards the transformer";
  EXPECT_GT(t5.size(), 1u) << "the writer shards T5";
  EXPECT_EQ(paths.transformer, transformer);
  EXPECT_EQ(paths.t5, t5);
  EXPECT_EQ(paths.t5_tokenizer, dir + "/tokenizer_2/tokenizer.json");
  EXPECT_EQ(paths.clip_vocab, dir + "/tokenizer/tokenizer.json");
  EXPECT_TRUE(paths.clip_merges.empty());

  const nlohmann::json scheduler = ReadJson(dir + "/scheduler/scheduler_config.json");
  EXPECT_EQ(paths.settings.shift, scheduler["use_dynamic_shifting"].get<bool>());
  EXPECT_EQ(paths.settings.base_shift, scheduler["base_shift"].get<double>());
  EXPECT_EQ(paths.settings.max_shift, scheduler["max_shift"].get<double>());
  EXPECT_EQ(paths.settings.base_image_seq_len, scheduler["base_image_seq_len"].get<int64_t>());
  EXPECT_EQ(paths.settings.max_image_seq_len, scheduler["max_image_seq_len"].get<int64_t>());
  const nlohmann::json transformer_config = ReadJson(dir + "/transformer/config.json");
  EXPECT_EQ(paths.settings.rope_axes,
            transformer_config["axes_dims_rope"].get<std::vector<int64_t>>());
  const nlohmann::json vae = ReadJson(dir + "/vae/config.json");
  EXPECT_EQ(paths.settings.vae_scaling_factor, vae["scaling_factor"].get<double>());
  EXPECT_EQ(paths.settings.vae_shift_factor, vae["shift_factor"].get<double>());
  EXPECT_EQ(paths.settings.vae_norm_groups, vae["norm_num_groups"].get<int64_t>());

  // Every tensor the transformer's index maps is in the checkpoint the shards open as.
  const Checkpoint checkpoint = Checkpoint::Open(paths.transformer);
  const nlohmann::json index =
      ReadJson(dir + "/transformer/diffusion_pytorch_model.safetensors.index.json");
  for (const auto& [tensor, shard] : index["weight_map"].items()) {
    EXPECT_TRUE(checkpoint.Has(tensor)) << tensor;
  }
}

std::vector<std::string> SamplePrompts() {
  return {"A red fox sitting in a snowy forest at dawn, soft golden light, highly detailed.",
          "  two   spaces\tand a tab ",
          "Ünïcödé — “quotes” and ½ fractions",
          "a",
          "",
          "An astronaut riding a horse across the surface of Mars, cinematic lighting."};
}

TEST(DiffusersFlux, TokenizerJsonSegmentsAsTheFilesItWasConvertedFrom) {
  const std::string dir = SharedDiffusersFluxDir();
  const std::string demo = SharedDemoModelDir();
  const std::string t5_json = dir + "/tokenizer_2/tokenizer.json";
  const T5Tokenizer converted =
      T5Tokenizer::FromSerialized(SentencePieceFromTokenizerJson(t5_json), t5_json);
  const T5Tokenizer original = T5Tokenizer::Load(demo + "/spiece.model");
  EXPECT_EQ(converted.piece_count(), original.piece_count());

  const ClipBpeText bpe = ClipBpeFromTokenizerJson(dir + "/tokenizer/tokenizer.json");
  const ClipTokenizer clip_converted = ClipTokenizer::FromStrings(bpe.vocab_json, bpe.merges_txt);
  const ClipTokenizer clip_original =
      ClipTokenizer::FromFiles(demo + "/vocab.json", demo + "/merges.txt");
  for (const std::string& prompt : SamplePrompts()) {
    EXPECT_EQ(converted.Pieces(prompt), original.Pieces(prompt)) << prompt;
    EXPECT_EQ(clip_converted.Encode(prompt), clip_original.Encode(prompt)) << prompt;
  }
}

std::vector<double> ParseDoubles(const std::string& line) {
  std::istringstream in(line);
  std::vector<double> values;
  double value = 0;
  while (in >> value) values.push_back(value);
  return values;
}

TEST(DiffusersFlux, ScheduleIsTheSigmasDiffusersRunsForTheFolder) {
  const std::string dir = SharedDiffusersFluxDir();
  PipelineConfig config;
  config.paths = FindModelFiles(dir);
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  const FluxSamplingDefaults& d = pipeline.defaults();
  for (const auto& [steps, tokens] :
       std::vector<std::pair<int, int64_t>>{{3, 16}, {4, 256}, {28, 1024}, {50, 4096}}) {
    const std::vector<double> diffusers = ParseDoubles(test_support::RunPythonReference(
        "diffusers_flux_folder.py", "schedule " + test_support::ShellQuote(dir) + " " +
                                        std::to_string(steps) + " " + std::to_string(tokens)));
    const std::vector<double> ours = FluxSchedule(steps, tokens, d.shift, d.base_shift, d.max_shift,
                                                  d.base_image_seq_len, d.max_image_seq_len);
    ASSERT_EQ(ours.size(), diffusers.size()) << steps << " steps";
    for (std::size_t i = 0; i < ours.size(); ++i) {
      // Both float32 (diffusers casts its numpy sigmas to float32 before shifting): a few ulps.
      EXPECT_NEAR(ours[i], diffusers[i], 1e-6) << steps << " steps, " << tokens << " tokens, " << i;
    }
  }
}

// Largest |a - b| in grey levels between the engine's image ([1, 3, H, W] in [-1, 1]) and
// diffusers' float image ([3, H, W] in [0, 1]).
double MaxLevelDifference(const torch::Tensor& ours, const std::string& diffusers_path) {
  const torch::Tensor theirs =
      ViewTensor(Checkpoint::Open(diffusers_path).Require("image")).to(torch::kDouble);
  const torch::Tensor mine = ((ours[0].to(torch::kDouble) + 1) / 2).clamp(0, 1);
  EXPECT_EQ(mine.sizes(), theirs.sizes());
  return (mine - theirs).abs().max().item<double>() * 255;
}

TEST(DiffusersFlux, ImageMatchesDiffusersFluxPipelineWithinOneGreyLevel) {
  const std::string dir = SharedDiffusersFluxDir();
  PipelineConfig config;
  config.paths = FindModelFiles(dir);
  config.t5_max_length = 32;
  config.prompt_cache_bytes = 0;
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  ASSERT_EQ(pipeline.family(), FluxFamily::kDev) << "the transformer has a guidance embedding";
  PipelineScratchDir out;
  for (const auto& [prompt, seed] : std::vector<std::pair<std::string, uint64_t>>{
           {"A lighthouse on a rocky cliff during a thunderstorm", 7}, {"a bowl of ramen", 1234}}) {
    const GenerationRequest request =
        pipeline_testing::MakeRequest(prompt, seed, 64, 64, /*steps=*/3, 1, /*guidance=*/3.5);
    const GenerationResult ours = pipeline.Generate(request, ExecutionTarget::Cpu());
    const pipeline_testing::DiffusersImage theirs = pipeline_testing::RunDiffusersFluxPipeline(
        dir, out.path(), prompt, seed, 64, 64, 3, 3.5, 32);
    const double levels = MaxLevelDifference(ours.images, theirs.image_path);
    // The engine's PNG truncates as BFL does, diffusers' rounds (engine/image/rgb8.h): one level
    // apart at most when the float images agree to well under half a level.
    const test_support::PixelDifference pixels =
        test_support::ComparePixels(ours.png[0], theirs.png);
    EXPECT_LT(levels, 0.5) << prompt;
    EXPECT_LE(pixels.max_level, 1) << prompt << ": share differing " << pixels.share;
    std::printf("seed %llu: max float difference %.3g grey levels, PNG max %d (share %.3f)\n",
                static_cast<unsigned long long>(seed), levels, pixels.max_level, pixels.share);
  }
}

TEST(DiffusersFlux, GenerateCommandOnTheFolderMatchesDiffusersWithTheFoldersDefaults) {
  const std::string dir = SharedDiffusersFluxDir();
  PipelineScratchDir out;
  const std::string png = out.path() + "/cli.png";
  std::ostringstream stdout_text, stderr_text;
  ASSERT_EQ(server::cli::RunCli(
                {"generate", "--local", "--model-dir", dir, "--prompt", "a quiet harbour", "--seed",
                 "11", "--width", "64", "--height", "64", "--steps", "2", "--out", png},
                stdout_text, stderr_text),
            0)
      << stderr_text.str();
  // The engine's dev defaults that diffusers' FluxPipeline shares: guidance 3.5, T5 at 512 tokens.
  const pipeline_testing::DiffusersImage theirs = pipeline_testing::RunDiffusersFluxPipeline(
      dir, out.path(), "a quiet harbour", 11, 64, 64, 2, 3.5, 512);
  const test_support::PixelDifference pixels =
      test_support::ComparePixels(pipeline_testing::ReadFile(png), theirs.png);
  EXPECT_LE(pixels.max_level, 1) << "share differing " << pixels.share;
}

}  // namespace
}  // namespace streamdit::engine
