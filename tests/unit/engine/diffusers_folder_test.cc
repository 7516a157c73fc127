// Reading a diffusers folder's configuration (engine/pipeline/diffusers_folder.h) on files written
// here by hand, in the format diffusers writes (see diffusers_flux_test.cc for the real thing):
// the scheduler's shift settings reach the pipeline's defaults and its schedule; a folder of
// another pipeline, a component of another class, a shard missing from its index and every
// malformed field are CheckpointErrors naming the file and the field, never a crash.
#include "engine/pipeline/diffusers_folder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/pipeline/model_paths.h"
#include "engine/sampling/flux_defaults.h"
#include "engine/sampling/schedule.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

namespace fs = std::filesystem;
using pipeline_testing::PipelineScratchDir;
using pipeline_testing::WriteFile;

// FLUX.1-dev's model_index.json (the hub's, anchors-wave3 §4.1).
constexpr char kModelIndex[] = R"({
  "_class_name": "FluxPipeline", "_diffusers_version": "0.30.0.dev0",
  "scheduler": ["diffusers", "FlowMatchEulerDiscreteScheduler"],
  "text_encoder": ["transformers", "CLIPTextModel"],
  "text_encoder_2": ["transformers", "T5EncoderModel"],
  "tokenizer": ["transformers", "CLIPTokenizer"],
  "tokenizer_2": ["transformers", "T5TokenizerFast"],
  "transformer": ["diffusers", "FluxTransformer2DModel"],
  "vae": ["diffusers", "AutoencoderKL"]})";

// A diffusers folder whose weight files are placeholders (FindModelFiles opens none of them).
struct Folder {
  PipelineScratchDir dir;
  Folder() {
    for (const char* sub : {"transformer", "vae", "text_encoder", "text_encoder_2", "tokenizer",
                            "tokenizer_2", "scheduler"}) {
      fs::create_directories(dir.File(sub));
    }
    Write("model_index.json", kModelIndex);
    Write("transformer/diffusion_pytorch_model-00001-of-00002.safetensors", "x");
    Write("transformer/diffusion_pytorch_model-00002-of-00002.safetensors", "x");
    Write("transformer/diffusion_pytorch_model.safetensors.index.json",
          R"({"metadata": {"total_size": 2}, "weight_map": {
                "x_embedder.weight": "diffusion_pytorch_model-00001-of-00002.safetensors",
                "proj_out.weight": "diffusion_pytorch_model-00002-of-00002.safetensors",
                "proj_out.bias": "diffusion_pytorch_model-00002-of-00002.safetensors"}})");
    Write("vae/diffusion_pytorch_model.safetensors", "x");
    Write("text_encoder/model.safetensors", "x");
    Write("text_encoder_2/model.safetensors", "x");
    Write("tokenizer/tokenizer.json", "{}");
    Write("tokenizer_2/spiece.model", "x");
    Write("scheduler/scheduler_config.json", R"({
      "_class_name": "FlowMatchEulerDiscreteScheduler", "base_image_seq_len": 256,
      "base_shift": 0.5, "max_image_seq_len": 4096, "max_shift": 1.15,
      "num_train_timesteps": 1000, "shift": 3.0, "use_dynamic_shifting": true})");
  }
  void Write(const std::string& relative, const std::string& text) {
    WriteFile(dir.File(relative), text);
  }
  std::string File(const std::string& relative) const { return dir.File(relative); }
};

// Runs `call`, which must throw a CheckpointError of `code` naming `file` and `field`.
void ExpectError(const std::function<void()>& call, CheckpointError::Code code,
                 const std::string& file, const std::string& field) {
  try {
    call();
    ADD_FAILURE() << "expected a CheckpointError naming " << file << " and " << field;
  } catch (const CheckpointError& error) {
    EXPECT_EQ(error.code(), code) << error.what();
    EXPECT_EQ(error.file(), file) << error.what();
    EXPECT_EQ(error.tensor(), field) << error.what();
    EXPECT_NE(std::string(error.what()).find(file), std::string::npos) << error.what();
  }
}

TEST(DiffusersFolder, ShardsComeFromTheIndexNotFromTheFolder) {
  Folder folder;
  // A variant beside the shards (diffusers' fp16 variant naming) is not part of the model.
  folder.Write("transformer/diffusion_pytorch_model.fp16.safetensors", "x");
  const ModelPaths paths = FindModelFiles(folder.dir.path());
  EXPECT_EQ(paths.transformer,
            (std::vector<std::string>{
                folder.File("transformer/diffusion_pytorch_model-00001-of-00002.safetensors"),
                folder.File("transformer/diffusion_pytorch_model-00002-of-00002.safetensors")}));
  EXPECT_EQ(paths.ae,
            std::vector<std::string>{folder.File("vae/diffusion_pytorch_model.safetensors")});
  EXPECT_EQ(paths.clip_vocab, folder.File("tokenizer/tokenizer.json"));
  EXPECT_TRUE(paths.clip_merges.empty());
  EXPECT_EQ(paths.t5_tokenizer, folder.File("tokenizer_2/spiece.model"));
}

TEST(DiffusersFolder, SchedulerShiftSettingsReachTheDefaultsAndTheSchedule) {
  Folder folder;
  folder.Write("scheduler/scheduler_config.json", R"({
      "_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true,
      "base_shift": 0.25, "max_shift": 0.75, "base_image_seq_len": 64,
      "max_image_seq_len": 1024, "shift": 3.0, "shift_terminal": null})");
  const ModelPaths paths = FindModelFiles(folder.dir.path());
  // Applied over schnell's defaults (no shift), they turn the shift on with the file's numbers.
  FluxSamplingDefaults defaults = FluxSchnellDefaults();
  ApplyFolderSettings(paths.settings, defaults);
  EXPECT_TRUE(defaults.shift);
  EXPECT_EQ(defaults.base_shift, 0.25);
  EXPECT_EQ(defaults.max_shift, 0.75);
  EXPECT_EQ(defaults.base_image_seq_len, 64);
  EXPECT_EQ(defaults.max_image_seq_len, 1024);
  EXPECT_EQ(defaults.num_steps, FluxSchnellDefaults().num_steps) << "steps are not the folder's";
  // mu is base_shift at base_image_seq_len and max_shift at max_image_seq_len: the middle sigma of
  // a 2-step schedule (t = 1/2) becomes e^mu / (e^mu + 1).
  for (const auto& [tokens, mu] :
       std::vector<std::pair<int64_t, double>>{{64, 0.25}, {1024, 0.75}}) {
    const std::vector<double> schedule =
        FluxSchedule(2, tokens, defaults.shift, defaults.base_shift, defaults.max_shift,
                     defaults.base_image_seq_len, defaults.max_image_seq_len);
    EXPECT_NEAR(schedule[1], std::exp(mu) / (std::exp(mu) + 1), 1e-7) << tokens << " tokens";
  }
}

TEST(DiffusersFolder, SchnellSchedulerTurnsTheShiftOffAndDiffusersDefaultsFillTheRest) {
  Folder folder;
  // FLUX.1-schnell's: no dynamic shifting, static shift 1 (the identity).
  folder.Write("scheduler/scheduler_config.json",
               R"({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 1.0,
                   "use_dynamic_shifting": false})");
  const ModelFolderSettings settings = ReadDiffusersSettings(folder.dir.path());
  FluxSamplingDefaults defaults = FluxDevDefaults();
  ApplyFolderSettings(settings, defaults);
  EXPECT_FALSE(defaults.shift);
  // Absent fields: FlowMatchEulerDiscreteScheduler's own defaults.
  EXPECT_EQ(settings.base_shift, 0.5);
  EXPECT_EQ(settings.max_shift, 1.15);
  EXPECT_EQ(settings.base_image_seq_len, 256);
  EXPECT_EQ(settings.max_image_seq_len, 4096);
}

TEST(DiffusersFolder, AnotherPipelineOrComponentClassNamesTheFileAndField) {
  Folder folder;
  const std::string index = folder.File("model_index.json");
  folder.Write("model_index.json", R"({"_class_name": "StableDiffusion3Pipeline"})");
  ExpectError([&] { FindModelFiles(folder.dir.path()); },
              CheckpointError::Code::kUnrecognizedLayout, index, "_class_name");
  folder.Write("model_index.json", R"({"_class_name": "FluxPipeline",
                                       "transformer": ["diffusers", "SD3Transformer2DModel"]})");
  ExpectError([&] { FindModelFiles(folder.dir.path()); },
              CheckpointError::Code::kUnrecognizedLayout, index, "transformer");
  folder.Write("model_index.json", R"({"_class_name": "FluxPipeline", "vae": "AutoencoderKL"})");
  ExpectError([&] { FindModelFiles(folder.dir.path()); }, CheckpointError::Code::kInvalidEntry,
              index, "vae");
  folder.Write("model_index.json", R"({"_class_name": 7})");
  ExpectError([&] { FindModelFiles(folder.dir.path()); }, CheckpointError::Code::kInvalidEntry,
              index, "_class_name");
  folder.Write("model_index.json", R"({"_class_name": "FluxPipeline",)");
  ExpectError([&] { FindModelFiles(folder.dir.path()); }, CheckpointError::Code::kInvalidJson,
              index, "");
}

TEST(DiffusersFolder, BrokenIndexNamesTheIndexAndTheEntry) {
  Folder folder;
  const std::string index =
      folder.File("transformer/diffusion_pytorch_model.safetensors.index.json");
  const auto find = [&] { FindModelFiles(folder.dir.path()); };
  folder.Write("transformer/diffusion_pytorch_model.safetensors.index.json", "[1, 2]");
  ExpectError(find, CheckpointError::Code::kInvalidJson, index, "");
  folder.Write("transformer/diffusion_pytorch_model.safetensors.index.json",
               R"({"weight_map": ["a"]})");
  ExpectError(find, CheckpointError::Code::kInvalidEntry, index, "weight_map");
  folder.Write("transformer/diffusion_pytorch_model.safetensors.index.json",
               R"({"weight_map": {"x_embedder.weight": 3}})");
  ExpectError(find, CheckpointError::Code::kInvalidEntry, index, "weight_map.x_embedder.weight");
  folder.Write("transformer/diffusion_pytorch_model.safetensors.index.json",
               R"({"weight_map": {"x_embedder.weight": "../../elsewhere.safetensors"}})");
  ExpectError(find, CheckpointError::Code::kInvalidEntry, index, "weight_map.x_embedder.weight");
  // A shard the index names that is not there: kIo naming the shard (and the index in the text).
  folder.Write("transformer/diffusion_pytorch_model.safetensors.index.json",
               R"({"weight_map": {"x_embedder.weight": "absent.safetensors"}})");
  ExpectError(find, CheckpointError::Code::kIo, folder.File("transformer/absent.safetensors"), "");
}

TEST(DiffusersFolder, MalformedOrUnsupportedSchedulerFieldsNameTheFileAndField) {
  Folder folder;
  const std::string file = folder.File("scheduler/scheduler_config.json");
  const auto find = [&] { FindModelFiles(folder.dir.path()); };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"base_shift": "high", "use_dynamic_shifting": true})", "base_shift"},
      {R"({"use_dynamic_shifting": "yes"})", "use_dynamic_shifting"},
      {R"({"use_dynamic_shifting": true, "max_image_seq_len": 0})", "max_image_seq_len"},
      {R"({"use_dynamic_shifting": true, "base_image_seq_len": 4096, "max_image_seq_len": 256})",
       "max_image_seq_len"},
      {R"({"shift": 3.0, "use_dynamic_shifting": false})", "shift"},
      {R"({"use_dynamic_shifting": true, "time_shift_type": "linear"})", "time_shift_type"},
      {R"({"use_dynamic_shifting": true, "shift_terminal": 0.02})", "shift_terminal"},
      {R"({"use_dynamic_shifting": true, "use_karras_sigmas": true})", "use_karras_sigmas"},
      {R"({"use_dynamic_shifting": true, "stochastic_sampling": true})", "stochastic_sampling"},
      {R"({"use_dynamic_shifting": true, "num_train_timesteps": 500})", "num_train_timesteps"},
      {R"({"_class_name": "EulerDiscreteScheduler"})", "_class_name"},
  };
  for (const auto& [json, field] : cases) {
    SCOPED_TRACE(json);
    folder.Write("scheduler/scheduler_config.json", json);
    const CheckpointError::Code code = field == "_class_name"
                                           ? CheckpointError::Code::kUnrecognizedLayout
                                           : CheckpointError::Code::kInvalidEntry;
    ExpectError(find, code, file, field);
  }
  folder.Write("scheduler/scheduler_config.json", "{\"use_dynamic_shifting\": tru");
  ExpectError(find, CheckpointError::Code::kInvalidJson, file, "");
}

TEST(DiffusersFolder, TransformerAndVaeConfigsAreReadOrNamed) {
  Folder folder;
  folder.Write("transformer/config.json",
               R"({"_class_name": "FluxTransformer2DModel", "axes_dims_rope": [4, 6, 6]})");
  folder.Write("vae/config.json", R"({"_class_name": "AutoencoderKL", "scaling_factor": 1.5,
                                      "shift_factor": -0.25, "norm_num_groups": 8})");
  const ModelFolderSettings settings = FindModelFiles(folder.dir.path()).settings;
  EXPECT_EQ(settings.rope_axes, (std::vector<int64_t>{4, 6, 6}));
  EXPECT_EQ(settings.vae_scaling_factor, 1.5);
  EXPECT_EQ(settings.vae_shift_factor, -0.25);
  EXPECT_EQ(settings.vae_norm_groups, 8);

  const auto find = [&] { FindModelFiles(folder.dir.path()); };
  const std::string transformer = folder.File("transformer/config.json");
  for (const char* json : {R"({"axes_dims_rope": [4, "6", 6]})", R"({"axes_dims_rope": [3, 5]})",
                           R"({"axes_dims_rope": 16})"}) {
    folder.Write("transformer/config.json", json);
    ExpectError(find, CheckpointError::Code::kInvalidEntry, transformer, "axes_dims_rope");
  }
  folder.Write("transformer/config.json", "{}");
  const std::string vae = folder.File("vae/config.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"shift_factor": 0.1})", "scaling_factor"},
      {R"({"scaling_factor": 0.3, "shift_factor": null})", "shift_factor"},
      {R"({"scaling_factor": 0, "shift_factor": 0.1})", "scaling_factor"},
      {R"({"scaling_factor": 0.3, "shift_factor": 0.1, "norm_num_groups": -2})", "norm_num_groups"},
  };
  for (const auto& [json, field] : cases) {
    SCOPED_TRACE(json);
    folder.Write("vae/config.json", json);
    ExpectError(find, CheckpointError::Code::kInvalidEntry, vae, field);
  }
}

}  // namespace
}  // namespace streamdit::engine
