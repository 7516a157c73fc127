// Checkpoint: shards merged into one name space, prefixes of the all-in-one layouts, and the
// Require/RequireShape errors loaders rely on.

#include "engine/checkpoint/checkpoint.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "tests/support/status_testing.h"
#include "tests/unit/checkpoint/checkpoint_test_files.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;
using testing_files::CaptureCheckpointError;
using testing_files::ScratchDir;

// Writes one U8 tensor per name, each holding its index, with shape [index + 1].
void WriteNames(const std::string& path, const std::vector<std::string>& names,
                const std::map<std::string, std::string>& metadata = {}) {
  SafetensorsWriter writer;
  for (const auto& [key, value] : metadata) writer.SetMetadata(key, value);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::vector<uint8_t> bytes(i + 1, static_cast<uint8_t>(i));
    writer.Add(names[i], DType::kU8, {static_cast<int64_t>(i + 1)}, bytes.data(), bytes.size());
  }
  writer.Write(path);
}

// An all-in-one file in the ComfyUI layout: every component under its own prefix.
std::string WriteAllInOne(const ScratchDir& dir) {
  const std::string path = dir.File("flux1-dev-fp8.safetensors");
  WriteNames(path, {"model.diffusion_model.img_in.weight",
                    "model.diffusion_model.double_blocks.0.img_attn.qkv.weight",
                    "text_encoders.clip_l.transformer.text_model.embeddings.token_embedding.weight",
                    "text_encoders.t5xxl.transformer.shared.weight",
                    "text_encoders.t5xxl.transformer.encoder.final_layer_norm.weight",
                    "vae.decoder.conv_in.weight", "vae.encoder.conv_in.weight"});
  return path;
}

TEST(Checkpoint, DetectsEveryComponentPrefixOfAnAllInOneFile) {
  ScratchDir dir;
  const Checkpoint all = Checkpoint::Open(WriteAllInOne(dir));
  EXPECT_EQ(all.size(), 7u);
  EXPECT_EQ(all.DetectPrefix(key_prefix::kTransformer, "img_in.weight"), "model.diffusion_model.");
  EXPECT_EQ(all.DetectPrefix(key_prefix::kClip, "text_model.embeddings.token_embedding.weight"),
            "text_encoders.clip_l.transformer.");
  EXPECT_EQ(all.DetectPrefix(key_prefix::kT5, "shared.weight"), "text_encoders.t5xxl.transformer.");
  EXPECT_EQ(all.DetectPrefix(key_prefix::kVae, "decoder.conv_in.weight"), "vae.");
  EXPECT_EQ(all.DetectPrefix(key_prefix::kVae, "img_in.weight"), std::nullopt);

  const Checkpoint t5 = all.WithPrefix("text_encoders.t5xxl.transformer.");
  EXPECT_EQ(t5.Names(),
            (std::vector<std::string>{"encoder.final_layer_norm.weight", "shared.weight"}));
  const Checkpoint vae = all.WithPrefix("vae.");
  EXPECT_EQ(vae.Names(),
            (std::vector<std::string>{"decoder.conv_in.weight", "encoder.conv_in.weight"}));
  const Checkpoint transformer = all.WithPrefix("model.diffusion_model.");
  EXPECT_EQ(transformer.size(), 2u);
  EXPECT_FALSE(transformer.Has("model.diffusion_model.img_in.weight"));
  // The view refers to the same tensor (same info, same mapped bytes) as the full checkpoint.
  const TensorRef direct = all.Require("model.diffusion_model.img_in.weight");
  const TensorRef viewed = transformer.Require("img_in.weight");
  EXPECT_EQ(viewed.info, direct.info);
  EXPECT_EQ(viewed.file->Data(*viewed.info), direct.file->Data(*direct.info));
}

TEST(Checkpoint, PlainFilesDetectTheEmptyPrefix) {
  ScratchDir dir;
  const std::string path = dir.File("ae.safetensors");
  WriteNames(path, {"decoder.conv_in.weight", "first_stage_model.decoder.conv_in.weight"});
  const Checkpoint checkpoint = Checkpoint::Open(path);
  // "" comes first among the candidates, so an unprefixed key wins.
  EXPECT_EQ(checkpoint.DetectPrefix(key_prefix::kVae, "decoder.conv_in.weight"), "");
  EXPECT_EQ(checkpoint.DetectPrefix({"first_stage_model."}, "decoder.conv_in.weight"),
            "first_stage_model.");
  EXPECT_EQ(checkpoint.WithPrefix("").size(), 2u);
  // A prefix matches whole key starts only, and a key equal to the prefix is not under it.
  EXPECT_EQ(checkpoint.WithPrefix("decoder.conv_in.weight").size(), 0u);
  EXPECT_EQ(checkpoint.WithPrefix("first_stage").Names(),
            (std::vector<std::string>{"_model.decoder.conv_in.weight"}));
}

TEST(Checkpoint, ShardsFormOneNameSpace) {
  ScratchDir dir;
  const std::string first = dir.File("diffusion_pytorch_model-00001-of-00002.safetensors");
  const std::string second = dir.File("diffusion_pytorch_model-00002-of-00002.safetensors");
  WriteNames(first, {"x_embedder.weight", "transformer_blocks.0.attn.to_q.weight"},
             {{"format", "pt"}});
  WriteNames(second, {"transformer_blocks.1.attn.to_q.weight", "proj_out.weight"},
             {{"format", "other"}});
  const Checkpoint checkpoint = Checkpoint::Open(std::vector<std::string>{first, second});
  EXPECT_EQ(checkpoint.Names(), (std::vector<std::string>{
                                    "proj_out.weight", "transformer_blocks.0.attn.to_q.weight",
                                    "transformer_blocks.1.attn.to_q.weight", "x_embedder.weight"}));
  EXPECT_EQ(checkpoint.Require("x_embedder.weight").file->path(), first);
  const TensorRef from_second = checkpoint.Require("proj_out.weight");
  EXPECT_EQ(from_second.file->path(), second);
  EXPECT_EQ(*from_second.file->Data(*from_second.info), 1);  // index 1 in its shard
  EXPECT_EQ(checkpoint.metadata().at("format"), "pt");       // the first file's
  EXPECT_NE(checkpoint.description().find(first), std::string::npos);
  EXPECT_NE(checkpoint.description().find(second), std::string::npos);
}

TEST(Checkpoint, ANameInTwoShardsIsADuplicate) {
  ScratchDir dir;
  const std::string first = dir.File("a.safetensors");
  const std::string second = dir.File("b.safetensors");
  WriteNames(first, {"shared.weight", "only_a"});
  WriteNames(second, {"only_b", "shared.weight"});
  const auto error = CaptureCheckpointError([&] {
    Checkpoint::Open(std::vector<std::string>{first, second});
  });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), Code::kDuplicateName);
  EXPECT_EQ(error->tensor(), "shared.weight");
  const std::string message = error->what();
  EXPECT_NE(message.find(first), std::string::npos) << message;
  EXPECT_NE(message.find(second), std::string::npos) << message;
  EXPECT_NE(message.find("shared.weight"), std::string::npos) << message;
}

TEST(Checkpoint, ABadShardFailsTheWholeOpen) {
  ScratchDir dir;
  const std::string good = dir.File("good.safetensors");
  WriteNames(good, {"a"});
  const std::string missing = dir.File("missing.safetensors");
  const auto error = CaptureCheckpointError([&] {
    Checkpoint::Open(std::vector<std::string>{good, missing});
  });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), Code::kIo);
  EXPECT_EQ(error->file(), missing);
  EXPECT_INVALID_ARGUMENT(Checkpoint::Open(std::vector<std::string>{}));
}

TEST(Checkpoint, RequireNamesTheFileAndTheMissingTensor) {
  ScratchDir dir;
  const std::string path = WriteAllInOne(dir);
  const Checkpoint transformer = Checkpoint::Open(path).WithPrefix("model.diffusion_model.");
  EXPECT_FALSE(transformer.Find("final_layer.linear.weight").has_value());
  const auto error =
      CaptureCheckpointError([&] { transformer.Require("final_layer.linear.weight"); });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), Code::kMissingTensor);
  EXPECT_EQ(error->tensor(), "final_layer.linear.weight");
  const std::string message = error->what();
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("final_layer.linear.weight"), std::string::npos) << message;
}

TEST(Checkpoint, RequireShapeNamesExpectedAndActualShapes) {
  ScratchDir dir;
  const std::string path = dir.File("shapes.safetensors");
  const std::vector<uint8_t> bytes(12);
  SafetensorsWriter writer;
  writer.Add("img_in.weight", DType::kU8, {3, 4}, bytes.data(), bytes.size());
  writer.Write(path);
  const Checkpoint checkpoint = Checkpoint::Open(path);
  EXPECT_EQ(checkpoint.RequireShape("img_in.weight", {3, 4}).info->shape,
            (std::vector<int64_t>{3, 4}));
  const auto error = CaptureCheckpointError([&] {
    checkpoint.RequireShape("img_in.weight", {4, 3});
  });
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code(), Code::kBadShape);
  const std::string message = error->what();
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("img_in.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[4, 3]"), std::string::npos) << message;
  EXPECT_NE(message.find("[3, 4]"), std::string::npos) << message;
  const auto missing = CaptureCheckpointError([&] { checkpoint.RequireShape("absent", {1}); });
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->code(), Code::kMissingTensor);
}

TEST(Checkpoint, ViewsKeepTheMappingAliveAfterTheOriginalIsGone) {
  ScratchDir dir;
  const std::string path = WriteAllInOne(dir);
  std::optional<Checkpoint> vae;
  {
    const Checkpoint all = Checkpoint::Open(path);
    vae = all.WithPrefix("vae.");
  }
  const TensorRef ref = vae->Require("encoder.conv_in.weight");
  // Index 6 in WriteAllInOne: 7 bytes of value 6, read through the still-mapped file.
  ASSERT_EQ(ref.info->nbytes(), 7u);
  for (uint64_t i = 0; i < ref.info->nbytes(); ++i) EXPECT_EQ(ref.file->Data(*ref.info)[i], 6);
}

}  // namespace
}  // namespace streamdit::engine
