// Request validation and defaults (reused by the gRPC server), the PNG parameters text, the
// prompt-embedding cache's LRU byte budget, and model-folder discovery.
#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/pipeline/generation_request.h"
#include "engine/pipeline/model_paths.h"
#include "engine/pipeline/png_parameters.h"
#include "engine/pipeline/prompt_cache.h"
#include "engine/status/status_error.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

namespace fs = std::filesystem;

std::string ValidationError(const GenerationRequest& request) {
  try {
    ValidateGenerationRequest(request);
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument) << error.what();
    return error.what();
  }
  return "";
}

TEST(PipelineRequestTest, NamesTheFieldAndTheLimit) {
  GenerationRequest request;
  request.width = 1000;
  EXPECT_EQ(ValidationError(request), "width must be a multiple of 16 in [64, 2048], got 1000");
  request.width = 2064;
  EXPECT_EQ(ValidationError(request), "width must be a multiple of 16 in [64, 2048], got 2064");
  request.width = 2048;
  EXPECT_EQ(ValidationError(request), "");
  request.height = 32;
  EXPECT_EQ(ValidationError(request), "height must be a multiple of 16 in [64, 2048], got 32");
  request.height = 64;
  request.steps = 101;
  EXPECT_EQ(ValidationError(request), "steps must be in [1, 100], got 101");
  request.steps = 100;
  request.guidance = std::nan("");
  EXPECT_EQ(ValidationError(request).rfind("guidance must be in [0, 100]", 0), 0u);
  request.guidance = 100;
  request.batch_size = 5;
  EXPECT_EQ(ValidationError(request), "batch_size must be in [1, 4], got 5");
  request.batch_size = 4;
  request.prompt = std::string(64 * 1024 + 1, 'a');
  EXPECT_EQ(ValidationError(request).rfind("prompt must be at most 65536 bytes", 0), 0u);
}

TEST(PipelineRequestTest, DefaultsFillOnlyUnsetFieldsAndAreValidatedToo) {
  GenerationRequest request;
  request.steps = 8;
  const ResolvedRequest dev = ResolveGenerationRequest(request, FluxDevDefaults());
  EXPECT_EQ(dev.steps, 8);
  EXPECT_EQ(dev.width, 1024);
  EXPECT_EQ(dev.height, 1024);
  EXPECT_EQ(dev.guidance, 3.5);
  GenerationLimits small;
  small.max_size = 512;
  try {
    ResolveGenerationRequest(request, FluxDevDefaults(), small);
    FAIL() << "a default above the limits must be refused";
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(error.what()), "width must be a multiple of 16 in [64, 512], got 1024");
  }
}

TEST(PipelineRequestTest, ImageSeedsAreConsecutiveFromTheRequestSeed) {
  GenerationRequest request;
  request.seed = 41;
  request.batch_size = 3;
  const ResolvedRequest resolved = ResolveGenerationRequest(request, FluxDevDefaults());
  EXPECT_EQ(resolved.seed, 41u);
  EXPECT_EQ(resolved.image_seeds, (std::vector<uint64_t>{41, 42, 43}));
  // 64-bit seeds wrap like unsigned arithmetic; the noise reads their low 32 bits.
  EXPECT_EQ(ImageSeed(UINT64_MAX, 1), 0u);
  EXPECT_EQ(ImageSeed((uint64_t{1} << 32) - 1, 1), uint64_t{1} << 32);
}

std::string BatchError(const std::vector<GenerationRequest>& requests,
                       const GenerationLimits& limits = {}) {
  try {
    ResolveGenerationBatch(requests, FluxDevDefaults(), limits);
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument) << error.what();
    return error.what();
  }
  return "";
}

TEST(PipelineRequestTest, BatchRequestsMustShareSizeAndStepsAfterDefaults) {
  GenerationRequest a;
  a.width = 64;
  a.height = 64;
  a.steps = 2;
  GenerationRequest b = a;
  b.prompt = "another prompt";
  b.seed = 9;
  b.guidance = 1.5;
  EXPECT_EQ(BatchError({a, b}), "");
  b.height = 96;
  EXPECT_EQ(BatchError({a, a, b}),
            "height must be the same for every request of a batch: requests[0] has 64, "
            "requests[2] has 96");
  b = a;
  b.width.reset();  // the default (1024) differs
  EXPECT_EQ(BatchError({a, b}),
            "width must be the same for every request of a batch: requests[0] has 64, "
            "requests[1] has 1024");
  b = a;
  b.steps = 3;
  EXPECT_EQ(BatchError({a, b}),
            "steps must be the same for every request of a batch: requests[0] has 2, "
            "requests[1] has 3");
  b = a;
  b.steps = 0;  // a bad field names its request
  EXPECT_EQ(BatchError({a, b}), "requests[1]: steps must be in [1, 100], got 0");
  EXPECT_EQ(BatchError({}), "requests: a batch needs at least one request");
  a.batch_size = 4;
  GenerationLimits limits;
  limits.max_batch_images = 10;
  EXPECT_EQ(BatchError({a, a, a}, limits),
            "a batch's images must number at most 10, got 12 from 3 requests");
  EXPECT_EQ(BatchError({a, a}, limits), "");
}

TEST(PipelineRequestTest, ParametersTextFollowsTheA1111Style) {
  ResolvedRequest request;
  request.prompt = "a cat";
  request.steps = 4;
  request.seed = 42;
  request.guidance = 3.5;
  request.width = 512;
  request.height = 768;
  EXPECT_EQ(FormatGenerationParameters(request, "flux1-dev", true),
            "a cat\nSteps: 4, Seed: 42, Guidance: 3.5, Size: 512x768, Model: flux1-dev");
  EXPECT_EQ(FormatGenerationParameters(request, "flux1-schnell", false),
            "a cat\nSteps: 4, Seed: 42, Size: 512x768, Model: flux1-schnell");
  // Image i of a request states its own seed, which alone reproduces it.
  request.batch_size = 3;
  EXPECT_EQ(FormatGenerationParameters(request, "m", false, 2),
            "a cat\nSteps: 4, Seed: 44, Size: 512x768, Model: m");
}

std::shared_ptr<const PromptEmbedding> Embedding(int64_t floats) {
  auto embedding = std::make_shared<PromptEmbedding>();
  embedding->t5 = torch::zeros({floats / 2});
  embedding->clip = torch::zeros({floats - floats / 2});
  return embedding;
}

TEST(PipelineRequestTest, PromptCacheEvictsLeastRecentlyUsedWithinItsBytes) {
  PromptEmbeddingCache cache(1000);  // 250 floats
  cache.Insert("a", Embedding(100));
  cache.Insert("b", Embedding(100));
  EXPECT_EQ(cache.size_bytes(), 800);
  ASSERT_NE(cache.Find("a"), nullptr);  // "a" becomes the most recent
  cache.Insert("c", Embedding(50));     // 1000 bytes: everything still fits
  EXPECT_EQ(cache.entries(), 3u);
  cache.Insert("d", Embedding(10));  // over by 40 bytes: the least recent ("b") goes
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_NE(cache.Find("d"), nullptr);
  EXPECT_EQ(cache.size_bytes(), 640);
  cache.Insert("huge", Embedding(251));  // larger than the whole budget: not kept, nothing lost
  EXPECT_EQ(cache.Find("huge"), nullptr);
  EXPECT_EQ(cache.entries(), 3u);
  cache.Insert("a", Embedding(20));  // replacing an entry updates the byte count
  EXPECT_EQ(cache.size_bytes(), 640 - 400 + 80);
  EXPECT_EQ(cache.hits(), 4);
  EXPECT_EQ(cache.misses(), 2);
}

TEST(PipelineRequestTest, CacheKeysSeparatePromptsLengthsAndDtypes) {
  EXPECT_NE(PromptEmbeddingCache::Key("a", 512, torch::kFloat),
            PromptEmbeddingCache::Key("a", 256, torch::kFloat));
  EXPECT_NE(PromptEmbeddingCache::Key("a", 512, torch::kFloat),
            PromptEmbeddingCache::Key("a", 512, torch::kBFloat16));
  // A prompt cannot imitate another key's suffix.
  EXPECT_NE(PromptEmbeddingCache::Key("a|t5=1", 2, torch::kFloat),
            PromptEmbeddingCache::Key("a", 1, torch::kFloat));
}

TEST(PipelineRequestTest, FindsTheDiffusersRepositoryLayout) {
  pipeline_testing::PipelineScratchDir dir;
  for (const char* folder :
       {"transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2"}) {
    fs::create_directories(dir.File(folder));
  }
  for (const char* file :
       {"transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
        "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
        "transformer/diffusion_pytorch_model.safetensors.index.json",
        "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors",
        "text_encoder_2/model-00001-of-00002.safetensors",
        "text_encoder_2/model-00002-of-00002.safetensors", "tokenizer/vocab.json",
        "tokenizer/merges.txt", "tokenizer_2/spiece.model"}) {
    pipeline_testing::WriteFile(dir.File(file), "x");
  }
  // The shards are the ones the index names (engine/pipeline/diffusers_folder.h).
  pipeline_testing::WriteFile(
      dir.File("transformer/diffusion_pytorch_model.safetensors.index.json"),
      R"({"weight_map": {"a": "diffusion_pytorch_model-00002-of-00002.safetensors",
                         "b": "diffusion_pytorch_model-00001-of-00002.safetensors"}})");
  const ModelPaths paths = FindModelFiles(dir.path());
  ASSERT_EQ(paths.transformer.size(), 2u);  // the shards, in order, without the index
  EXPECT_EQ(paths.transformer[0],
            dir.File("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"));
  EXPECT_EQ(paths.t5.size(), 2u);
  EXPECT_EQ(paths.clip_vocab, dir.File("tokenizer/vocab.json"));
  EXPECT_EQ(paths.t5_tokenizer, dir.File("tokenizer_2/spiece.model"));
}

TEST(PipelineRequestTest, MissingComponentNamesTheFileLookedFor) {
  pipeline_testing::PipelineScratchDir dir;
  pipeline_testing::WriteFile(dir.File("flux1-dev.safetensors"), "x");
  pipeline_testing::WriteFile(dir.File("ae.safetensors"), "x");
  try {
    FindModelFiles(dir.path());
    FAIL() << "expected a CheckpointError";
  } catch (const CheckpointError& error) {
    EXPECT_EQ(error.code(), CheckpointError::Code::kIo);
    EXPECT_NE(std::string(error.what()).find("t5xxl_*.safetensors"), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("T5 encoder"), std::string::npos);
  }
  EXPECT_THROW(FindModelFiles(dir.File("absent")), CheckpointError);
}

}  // namespace
}  // namespace streamdit::engine
