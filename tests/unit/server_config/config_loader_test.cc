#include "server/config/config_loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace streamdit::server {
namespace {

using std::chrono::milliseconds;

constexpr char kMinimal[] = R"(devices:
  - name: cpu
    budget: 4GiB
models:
  - name: demo
    dir: models/demo
)";

absl::StatusOr<ServerConfig> Parse(const std::string& text) {
  return ParseServerConfig(text, "test.yaml", "/etc/streamdit");
}

// The load fails with INVALID_ARGUMENT, and the message names the key path and the file position.
void ExpectInvalid(const std::string& text, const std::string& key, int line,
                   const std::string& also = "") {
  const absl::StatusOr<ServerConfig> config = Parse(text);
  ASSERT_FALSE(config.ok()) << text;
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(config.status().message());
  EXPECT_NE(message.find("test.yaml:" + std::to_string(line) + ":"), std::string::npos)
      << "wanted line " << line << " in: " << message;
  EXPECT_NE(message.find(key), std::string::npos) << "wanted " << key << " in: " << message;
  if (!also.empty()) {
    EXPECT_NE(message.find(also), std::string::npos) << message;
  }
}

TEST(ParseServerConfig, MinimalConfigGetsTheDefaults) {
  const absl::StatusOr<ServerConfig> config = Parse(kMinimal);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "test.yaml");
  EXPECT_EQ(config->listen, "0.0.0.0:50051");
  EXPECT_FALSE(config->metrics_listen.has_value());
  EXPECT_EQ(config->grace_period, milliseconds(30000));
  EXPECT_EQ(config->log_level, LogLevel::kInfo);
  EXPECT_EQ(config->default_model, "demo");
  ASSERT_EQ(config->devices.size(), 1u);
  EXPECT_EQ(config->devices[0].name, "cpu:0");
  EXPECT_EQ(config->devices[0].budget.bytes, int64_t{4} << 30);
  EXPECT_EQ(config->devices[0].reserve_bytes, 0);
  ASSERT_EQ(config->models.size(), 1u);
  const ModelSpec& model = config->models[0];
  EXPECT_EQ(model.dir, "/etc/streamdit/models/demo");  // relative to the configuration's folder
  EXPECT_FALSE(model.family.has_value());
  EXPECT_EQ(model.storage, HostStorage::kAsStored);
  EXPECT_EQ(model.compute_dtype, ComputeDtype::kF32);
  EXPECT_EQ(model.resident_format, ResidentCopy::kStored);
  EXPECT_FALSE(model.create_demo);
  EXPECT_TRUE(model.paths.transformer.empty());
  EXPECT_FALSE(model.defaults.steps.has_value());
  EXPECT_EQ(config->scheduler.queue_capacity, 256);
  EXPECT_EQ(config->scheduler.aging, milliseconds(10000));
  EXPECT_EQ(config->limits.max_size, 2048);
  EXPECT_EQ(config->limits.max_message_bytes, 64 << 20);
  EXPECT_FALSE(config->tls.has_value());
}

TEST(ParseServerConfig, ReadsEveryKey) {
  const absl::StatusOr<ServerConfig> config = Parse(R"(
listen: "[::]:6000"
metrics_listen: 127.0.0.1:9100
grace_period: 1m30s
log_level: debug
default_model: schnell
devices:
  - name: cpu:0
    budget: 8589934592
  - name: cpu:1
    budget: 2GB
    lora_cache: 256MiB
  - name: cuda:0
    budget: 90%
    reserve: 1GiB
models:
  - name: dev
    family: dev
    dir: /models/dev
    paths:
      transformer: [transformer/a.safetensors, transformer/b.safetensors]
      ae: ae.safetensors
      t5: /elsewhere/t5.safetensors
      clip: clip_l.safetensors
      t5_tokenizer: spiece.model
      clip_vocab: vocab.json
      clip_merges: merges.txt
    storage: fp8
    compute_dtype: bf16
    resident_format: compute
    create_demo: false
    defaults: {steps: 28, width: 1360, height: 768, guidance: 2.5, t5_max_length: 512}
  - name: schnell
    family: schnell
    dir: schnell
    create_demo: true
scheduler:
  queue_capacity: 10
  max_batch_images: 2
  aging: 5s
  head_reservation_after: 500ms
  max_oom_retries: 0
  max_failure_retries: 1
limits:
  min_size: 128
  max_size: 1536
  max_pixels: 2000000
  max_steps: 60
  max_prompt_bytes: 4KiB
  max_images_per_request: 2
  max_message_bytes: 32MiB
  max_concurrent_streams: 16
tls:
  cert: tls/server.crt
  key: /secrets/server.key
  client_ca: tls/ca.crt
)");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "[::]:6000");
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9100");
  EXPECT_EQ(config->grace_period, milliseconds(90000));
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(config->default_model, "schnell");
  ASSERT_EQ(config->devices.size(), 3u);
  EXPECT_EQ(config->devices[0].budget.bytes, 8589934592);
  EXPECT_EQ(config->devices[1].name, "cpu:1");
  EXPECT_EQ(config->devices[1].budget.bytes, 2000000000);
  EXPECT_EQ(config->devices[1].lora_cache_bytes, int64_t{256} << 20);
  EXPECT_FALSE(config->devices[0].lora_cache_bytes.has_value());  // default: a tenth of the budget
  EXPECT_EQ(config->devices[2].kind, DeviceKind::kCuda);
  EXPECT_DOUBLE_EQ(config->devices[2].budget.fraction, 0.9);
  EXPECT_EQ(config->devices[2].reserve_bytes, int64_t{1} << 30);
  const ModelSpec& dev = *config->FindModel("dev");
  EXPECT_EQ(dev.family, ModelFamily::kDev);
  EXPECT_EQ(dev.paths.transformer,
            (std::vector<std::string>{"/models/dev/transformer/a.safetensors",
                                      "/models/dev/transformer/b.safetensors"}));
  EXPECT_EQ(dev.paths.ae, std::vector<std::string>{"/models/dev/ae.safetensors"});
  EXPECT_EQ(dev.paths.t5, std::vector<std::string>{"/elsewhere/t5.safetensors"});
  EXPECT_EQ(dev.paths.clip_merges, "/models/dev/merges.txt");
  EXPECT_EQ(dev.storage, HostStorage::kFp8);
  EXPECT_EQ(dev.compute_dtype, ComputeDtype::kBf16);
  EXPECT_EQ(dev.resident_format, ResidentCopy::kCompute);
  EXPECT_EQ(dev.defaults.steps, 28);
  EXPECT_EQ(dev.defaults.width, 1360);
  EXPECT_EQ(dev.defaults.height, 768);
  EXPECT_EQ(dev.defaults.guidance, 2.5);
  EXPECT_EQ(dev.defaults.t5_max_length, 512);
  const ModelSpec& schnell = *config->FindModel("schnell");
  EXPECT_EQ(schnell.dir, "/etc/streamdit/schnell");
  EXPECT_TRUE(schnell.create_demo);
  EXPECT_EQ(config->FindModel("missing"), nullptr);
  EXPECT_EQ(config->scheduler.queue_capacity, 10);
  EXPECT_EQ(config->scheduler.max_batch_images, 2);
  EXPECT_EQ(config->scheduler.aging, milliseconds(5000));
  EXPECT_EQ(config->scheduler.head_reservation_after, milliseconds(500));
  EXPECT_EQ(config->scheduler.max_oom_retries, 0);
  EXPECT_EQ(config->scheduler.max_failure_retries, 1);
  EXPECT_EQ(config->limits.min_size, 128);
  EXPECT_EQ(config->limits.max_size, 1536);
  EXPECT_EQ(config->limits.max_pixels, 2000000);
  EXPECT_EQ(config->limits.max_steps, 60);
  EXPECT_EQ(config->limits.max_prompt_bytes, 4096);
  EXPECT_EQ(config->limits.max_images_per_request, 2);
  EXPECT_EQ(config->limits.max_message_bytes, 32 << 20);
  EXPECT_EQ(config->limits.max_concurrent_streams, 16);
  ASSERT_TRUE(config->tls.has_value());
  EXPECT_EQ(config->tls->cert, "/etc/streamdit/tls/server.crt");
  EXPECT_EQ(config->tls->key, "/secrets/server.key");
  EXPECT_EQ(config->tls->client_ca, "/etc/streamdit/tls/ca.crt");
}

TEST(ParseServerConfig, EmptyValueMeansAbsentAndNoBaseDirKeepsPathsAsWritten) {
  const absl::StatusOr<ServerConfig> config =
      ParseServerConfig(std::string(kMinimal) + "metrics_listen:\ntls:\nlimits:\n", "x.yaml", "");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->metrics_listen.has_value());
  EXPECT_EQ(config->models[0].dir, "models/demo");
}

TEST(ParseServerConfig, UnknownKeyAtTopLevelSuggestsTheNearest) {
  ExpectInvalid(std::string(kMinimal) + "listn: 0.0.0.0:1\n", "listn", 7, "did you mean 'listen'");
  ExpectInvalid(std::string(kMinimal) + "device: cpu\n", "device", 7, "unknown key");
}

TEST(ParseServerConfig, UnknownNestedKeyNamesItsPath) {
  ExpectInvalid(std::string(kMinimal) + "    defaults:\n      stpes: 4\n",
                "models[0].defaults.stpes", 8, "allowed in models[0].defaults: steps, width");
  ExpectInvalid(std::string(kMinimal) + "scheduler:\n  queue: 3\n", "scheduler.queue", 8);
}

TEST(ParseServerConfig, BadEnumSaysWhatIsAllowed) {
  ExpectInvalid(std::string(kMinimal) + "    family: pro\n", "models[0].family", 7,
                "must be one of dev, schnell");
  ExpectInvalid(std::string(kMinimal) + "log_level: loud\n", "log_level", 7,
                "trace, debug, info, warn, error");
  ExpectInvalid(std::string(kMinimal) + "    storage: int4\n", "models[0].storage", 7, "fp8");
  ExpectInvalid(std::string(kMinimal) + "    resident_format: q4\n", "models[0].resident_format", 7,
                "must be one of stored, compute");
}

TEST(ParseServerConfig, BadSizes) {
  ExpectInvalid("devices:\n  - name: cpu\n    budget: 4 gigs\nmodels: [{name: a, dir: a}]\n",
                "devices[0].budget", 3, "\"4 gigs\"");
  ExpectInvalid("devices:\n  - name: cpu\n    budget: 90%\nmodels: [{name: a, dir: a}]\n",
                "devices[0].budget", 3, "cuda devices only");
  ExpectInvalid(
      "devices:\n  - name: cpu\n    budget: 1GiB\n    reserve: 2GiB\nmodels: [{name: a, dir: a}]\n",
      "devices[0].reserve", 4, "leaves nothing");
  ExpectInvalid(std::string(kMinimal) + "limits:\n  max_message_bytes: 4GiB\n",
                "limits.max_message_bytes", 8, "out of range");
  ExpectInvalid(std::string(kMinimal) + "    defaults:\n      width: 500\n",
                "models[0].defaults.width", 8, "multiple of 16");
  ExpectInvalid(std::string(kMinimal) + "    defaults:\n      width: 4096\n",
                "models[0].defaults.width", 8, "from 64 to 2048");
  ExpectInvalid(std::string(kMinimal) + "limits:\n  min_size: 512\n  max_size: 256\n",
                "limits.max_size", 9, "below min_size");
}

TEST(ParseServerConfig, NegativeNumbers) {
  ExpectInvalid(std::string(kMinimal) + "scheduler:\n  max_oom_retries: -1\n",
                "scheduler.max_oom_retries", 8, "out of range");
  ExpectInvalid(std::string(kMinimal) + "    defaults:\n      steps: -4\n",
                "models[0].defaults.steps", 8, "from 1 to 100");
  ExpectInvalid(std::string(kMinimal) + "grace_period: -5s\n", "grace_period", 7, "negative");
}

TEST(ParseServerConfig, WrongTypes) {
  ExpectInvalid(std::string(kMinimal) + "    defaults:\n      steps: four\n",
                "models[0].defaults.steps", 8, "\"four\" is not an integer");
  ExpectInvalid(std::string(kMinimal) + "    defaults:\n      steps: 4.5\n",
                "models[0].defaults.steps", 8, "not an integer");
  ExpectInvalid(std::string(kMinimal) + "    defaults: [4]\n", "models[0].defaults", 7,
                "must be a map");
  ExpectInvalid(std::string(kMinimal) + "    create_demo: yes please\n", "models[0].create_demo", 7,
                "true or false");
  ExpectInvalid(std::string(kMinimal) + "listen: [a, b]\n", "listen", 7, "got a list");
  ExpectInvalid("devices:\n  name: cpu\nmodels: [{name: a, dir: a}]\n", "devices", 2,
                "must be a list");
  ExpectInvalid(std::string(kMinimal) + "grace_period: 30\n", "grace_period", 7,
                "the unit is missing");
}

TEST(ParseServerConfig, DuplicateNames) {
  ExpectInvalid(
      "devices:\n  - name: cpu\n    budget: 1GiB\n  - name: cpu:0\n    budget: 1GiB\n"
      "models: [{name: a, dir: a}]\n",
      "devices[1].name", 4, "listed twice (first at line 2)");
  ExpectInvalid(std::string(kMinimal) + "  - name: demo\n    dir: other\n", "models[1].name", 7,
                "listed twice");
  ExpectInvalid(std::string(kMinimal) + "log_level: info\nlog_level: warn\n", "log_level", 8,
                "repeated (first at line 7)");
}

TEST(ParseServerConfig, MissingRequiredKeys) {
  ExpectInvalid("devices:\n  - name: cpu\n    budget: 1GiB\n", "models", 1,
                "required key 'models' is missing");
  ExpectInvalid("devices:\n  - name: cpu\nmodels: [{name: a, dir: a}]\n", "devices[0].budget", 2,
                "required key 'budget' is missing");
  ExpectInvalid(std::string(kMinimal) + "  - name: b\n", "models[1].dir", 7, "missing");
  ExpectInvalid(std::string(kMinimal) + "tls:\n  cert: a.crt\n", "tls.key", 8, "missing");
  ExpectInvalid("devices: []\nmodels: [{name: a, dir: a}]\n", "devices", 1, "at least one");
  const absl::Status empty = Parse("").status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(empty.message()).find("required key 'devices' is missing"),
            std::string::npos);
}

TEST(ParseServerConfig, CrossFieldRules) {
  ExpectInvalid(std::string(kMinimal) + "default_model: other\n", "default_model", 7,
                "not a configured model; configured: demo");
  ExpectInvalid(std::string(kMinimal) + "    family: schnell\n    defaults: {guidance: 3.5}\n",
                "models[0].defaults.guidance", 8, "schnell has no guidance");
  ExpectInvalid(std::string(kMinimal) + "    defaults: {steps: 80}\nlimits: {max_steps: 50}\n",
                "models[0].defaults.steps", 7, "from 1 to 50");
  ExpectInvalid(std::string(kMinimal) + "  - name: 'bad name'\n    dir: x\n", "models[1].name", 7,
                "not a model name");
}

TEST(ParseServerConfig, YamlSyntaxErrorNamesTheFileAndLine) {
  ExpectInvalid(std::string(kMinimal) + "limits: {max_steps: 4\n", "YAML syntax error", 8);
  ExpectInvalid("devices:\n  - name: cpu\n   budget: [1GiB\n", "YAML syntax error", 3);
}

TEST(ParseServerConfig, ReportsEveryProblemAtOnce) {
  const absl::Status status =
      Parse(std::string(kMinimal) + "log_level: loud\ngrace_period: soon\n").status();
  const std::string message(status.message());
  EXPECT_NE(message.find("test.yaml:7:12: log_level:"), std::string::npos) << message;
  EXPECT_NE(message.find("test.yaml:8:15: grace_period:"), std::string::npos) << message;
}

class LoadServerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("streamdit_config_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadServerConfigTest, RelativePathsAreRelativeToTheFilesFolder) {
  const std::string path = Write("server.yaml", kMinimal);
  const absl::StatusOr<ServerConfig> config = LoadServerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, path);
  EXPECT_EQ(config->models[0].dir, (dir_ / "models/demo").string());
}

TEST_F(LoadServerConfigTest, LoraDirsAreAListOrOneFolderRelativeToTheFile) {
  const absl::StatusOr<ServerConfig> list = LoadServerConfig(
      Write("list.yaml", std::string(kMinimal) + "lora_dirs: [loras, /abs/loras]\n"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->lora_dirs, (std::vector<std::string>{(dir_ / "loras").string(), "/abs/loras"}));
  const absl::StatusOr<ServerConfig> one =
      LoadServerConfig(Write("one.yaml", std::string(kMinimal) + "lora_dirs: more\n"));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->lora_dirs, std::vector<std::string>{(dir_ / "more").string()});
  const absl::Status empty =
      LoadServerConfig(Write("empty.yaml", std::string(kMinimal) + "lora_dirs: [\"\"]\n")).status();
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(empty.message()).find("lora_dirs[0]"), std::string::npos) << empty;
}

TEST_F(LoadServerConfigTest, MissingFileIsNotFoundNamingIt) {
  const std::string path = (dir_ / "absent.yaml").string();
  const absl::Status status = LoadServerConfig(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(status.message()).find(path), std::string::npos);
}

TEST_F(LoadServerConfigTest, ErrorsNameTheFile) {
  const std::string path = Write("bad.yaml", std::string(kMinimal) + "log_level: loud\n");
  const absl::Status status = LoadServerConfig(path).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(status.message()).find(path + ":7:12: log_level"), std::string::npos)
      << status.message();
  EXPECT_EQ(LoadServerConfig(dir_.string()).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace streamdit::server
