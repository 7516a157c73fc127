#include "server/config/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/config/config_values.h"
#include "server/config/yaml_reader.h"

namespace streamdit::server {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
constexpr int kSizeAlignment = 16;        // FLUX latents are 1/8 of the image, packed 2x2
constexpr int kFamilyDefaultSize = 1024;  // both families' default width and height

// `path` joined with `base` when relative and base is known.
std::string Resolve(const std::string& base, const std::string& path) {
  if (base.empty() || path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base) / path).lexically_normal().string();
}

auto ListenParser(bool allow_unix) {
  return [allow_unix](std::string_view text) { return ParseListenAddress(text, allow_unix); };
}

class ConfigParser {
 public:
  ConfigParser(YamlReader& reader, std::string base_dir)
      : reader_(reader), base_dir_(std::move(base_dir)) {}

  void ReadRoot(const YAML::Node& root, ServerConfig& config) {
    const std::optional<YamlMap> top = reader_.ReadMap(
        root, "",
        {"listen", "metrics_listen", "grace_period", "log_level", "default_model", "devices",
         "models", "lora_dirs", "scheduler", "limits", "tls", "http", "auth"});
    if (!top) return;
    if (auto node = top->Get("listen")) {
      Set(config.listen, reader_.Parsed(*node, "listen", ListenParser(true), "an address"));
    }
    if (auto node = top->Get("metrics_listen")) {
      config.metrics_listen =
          reader_.Parsed(*node, "metrics_listen", ListenParser(false), "an address");
    }
    if (auto node = top->Get("grace_period")) {
      Set(config.grace_period, reader_.Parsed(*node, "grace_period", ParseDuration, "a duration"));
    }
    if (auto node = top->Get("log_level")) {
      Set(config.log_level, reader_.Parsed(*node, "log_level", ParseLogLevel, "a log level"));
    }
    if (auto node = top->Get("limits")) ReadLimits(*node, config.limits);
    if (auto node = top->Get("scheduler")) ReadScheduler(*node, config.scheduler);
    if (auto node = top->Get("tls")) config.tls = ReadTls(*node);
    if (auto node = top->Get("http")) config.http = ReadHttp(*node);
    if (auto node = top->Get("auth")) ReadAuth(*node, config.auth);
    if (auto node = top->Get("lora_dirs")) ReadLoraDirs(*node, config.lora_dirs);
    if (auto node = top->Get("devices")) {
      ReadDevices(*node, config.devices);
    } else {
      reader_.Missing(*top, "devices");
    }
    if (auto node = top->Get("models")) {
      ReadModels(*node, config);
    } else {
      reader_.Missing(*top, "models");
    }
    if (auto node = top->Get("default_model")) {
      const std::optional<std::string> name = reader_.NonEmpty(*node, "default_model");
      if (name && !config.models.empty() && config.FindModel(*name) == nullptr) {
        std::vector<std::string> names;
        for (const ModelSpec& model : config.models) names.push_back(model.name);
        reader_.Error(node->Mark(), "default_model",
                      absl::StrCat("\"", *name, "\" is not a configured model; configured: ",
                                   absl::StrJoin(names, ", ")));
      }
      if (name) config.default_model = *name;
    } else if (!config.models.empty()) {
      config.default_model = config.models.front().name;
    }
  }

 private:
  template <typename T, typename U>
  static void Set(T& field, std::optional<U> value) {
    if (value) field = *std::move(value);
  }

  // An integer field of `map` within [min, max], left as it is when the key is absent.
  template <typename T>
  void ReadInteger(const YamlMap& map, std::string_view key, int64_t min, int64_t max, T& field) {
    if (auto node = map.Get(key)) Set(field, reader_.Integer(*node, map.Child(key), min, max));
  }

  void ReadBytes(const YamlMap& map, std::string_view key, int64_t min, int64_t max,
                 int64_t& field) {
    const auto node = map.Get(key);
    if (!node) return;
    const std::string path = map.Child(key);
    const std::optional<int64_t> bytes = reader_.Parsed(*node, path, ParseByteSize, "a byte size");
    if (!bytes) return;
    if (*bytes < min || *bytes > max) {
      reader_.Error(node->Mark(), path,
                    absl::StrCat(node->Scalar(), " is out of range; must be from ", min, " B to ",
                                 FormatByteSize(max)));
      return;
    }
    field = *bytes;
  }

  void ReadDuration(const YamlMap& map, std::string_view key, std::chrono::milliseconds& field) {
    if (auto node = map.Get(key)) {
      Set(field, reader_.Parsed(*node, map.Child(key), ParseDuration, "a duration"));
    }
  }

  // A multiple of 16 within the limits' hard range.
  void ReadSize(const YamlMap& map, std::string_view key, int min, int max, int& field) {
    const auto node = map.Get(key);
    if (!node) return;
    const std::optional<int64_t> size = reader_.Integer(*node, map.Child(key), min, max);
    if (!size) return;
    if (*size % kSizeAlignment != 0) {
      reader_.Error(node->Mark(), map.Child(key),
                    absl::StrCat(*size, " is not a multiple of ", kSizeAlignment));
      return;
    }
    field = static_cast<int>(*size);
  }

  void ReadLimits(const YAML::Node& node, LimitsSpec& limits) {
    const std::optional<YamlMap> map =
        reader_.ReadMap(node, "limits",
                        {"min_size", "max_size", "max_pixels", "max_steps", "max_prompt_bytes",
                         "max_images_per_request", "max_message_bytes", "max_concurrent_streams"});
    if (!map) return;
    ReadSize(*map, "min_size", 16, 16384, limits.min_size);
    ReadSize(*map, "max_size", 16, 16384, limits.max_size);
    if (limits.max_size < limits.min_size) {
      reader_.Error(map->Get("max_size") ? map->Get("max_size")->Mark() : map->mark(),
                    map->Child("max_size"),
                    absl::StrCat(limits.max_size, " is below min_size ", limits.min_size));
    }
    ReadInteger(*map, "max_pixels", int64_t{limits.min_size} * limits.min_size, int64_t{1} << 30,
                limits.max_pixels);
    ReadInteger(*map, "max_steps", 1, 10000, limits.max_steps);
    ReadBytes(*map, "max_prompt_bytes", 1, 1 << 20, limits.max_prompt_bytes);
    ReadInteger(*map, "max_images_per_request", 1, 64, limits.max_images_per_request);
    ReadBytes(*map, "max_message_bytes", 1 << 16, std::numeric_limits<int32_t>::max(),
              limits.max_message_bytes);
    ReadInteger(*map, "max_concurrent_streams", 1, 1 << 20, limits.max_concurrent_streams);
  }

  void ReadScheduler(const YAML::Node& node, SchedulerSpec& scheduler) {
    const std::optional<YamlMap> map =
        reader_.ReadMap(node, "scheduler",
                        {"queue_capacity", "max_batch_images", "aging", "head_reservation_after",
                         "max_oom_retries", "max_failure_retries"});
    if (!map) return;
    ReadInteger(*map, "queue_capacity", 1, 1000000, scheduler.queue_capacity);
    ReadInteger(*map, "max_batch_images", 1, 64, scheduler.max_batch_images);
    ReadDuration(*map, "aging", scheduler.aging);
    ReadDuration(*map, "head_reservation_after", scheduler.head_reservation_after);
    ReadInteger(*map, "max_oom_retries", 0, 100, scheduler.max_oom_retries);
    ReadInteger(*map, "max_failure_retries", 0, 100, scheduler.max_failure_retries);
  }

  std::optional<TlsSpec> ReadTls(const YAML::Node& node) {
    const std::optional<YamlMap> map = reader_.ReadMap(node, "tls", {"cert", "key", "client_ca"});
    if (!map) return std::nullopt;
    TlsSpec tls;
    for (const auto& [key, field] : {std::pair<const char*, std::string*>{"cert", &tls.cert},
                                     {"key", &tls.key},
                                     {"client_ca", &tls.client_ca}}) {
      if (auto value = map->Get(key)) {
        if (auto text = reader_.NonEmpty(*value, map->Child(key)))
          *field = Resolve(base_dir_, *text);
      } else if (std::string_view(key) != "client_ca") {
        reader_.Missing(*map, key);
      }
    }
    return tls;
  }

  std::optional<HttpSpec> ReadHttp(const YAML::Node& node) {
    const std::optional<YamlMap> map = reader_.ReadMap(node, "http", {"listen", "max_body_bytes"});
    if (!map) return std::nullopt;
    HttpSpec http;
    if (auto value = map->Get("listen")) {
      Set(http.listen,
          reader_.Parsed(*value, map->Child("listen"), ListenParser(false), "an address"));
    } else {
      reader_.Missing(*map, "listen");
    }
    ReadBytes(*map, "max_body_bytes", 1 << 10, 1ll << 30, http.max_body_bytes);
    return http;
  }

  void ReadAuth(const YAML::Node& node, AuthSpec& auth) {
    const std::optional<YamlMap> map =
        reader_.ReadMap(node, "auth", {"api_keys_file", "api_keys_env"});
    if (!map) return;
    if (auto value = map->Get("api_keys_file")) {
      if (auto text = reader_.NonEmpty(*value, map->Child("api_keys_file"))) {
        auth.api_keys_file = Resolve(base_dir_, *text);
      }
    }
    if (auto value = map->Get("api_keys_env")) {
      if (auto text = reader_.NonEmpty(*value, map->Child("api_keys_env"))) {
        auth.api_keys_env = *text;
      }
    }
    if (!auth.api_keys_file.empty() && !auth.api_keys_env.empty()) {
      reader_.Error(map->mark(), "auth", "takes api_keys_file or api_keys_env, not both");
    }
  }

  void ReadDevices(const YAML::Node& node, std::vector<DeviceConfigSpec>& devices) {
    if (!reader_.ExpectSequence(node, "devices")) return;
    if (node.size() == 0) reader_.Error(node.Mark(), "devices", "must list at least one device");
    std::vector<YAML::Mark> name_marks;
    size_t index = 0;
    for (const YAML::Node& item : node) {
      const std::string path = IndexPath("devices", index++);
      const std::optional<YamlMap> map =
          reader_.ReadMap(item, path, {"name", "budget", "reserve", "lora_cache"});
      if (!map) continue;
      const auto name = map->Get("name");
      if (!name) reader_.Missing(*map, "name");
      std::optional<DeviceConfigSpec> device =
          name ? reader_.Parsed(*name, map->Child("name"), ParseDeviceName, "a device name")
               : std::nullopt;
      const auto budget_node = map->Get("budget");
      if (!budget_node) reader_.Missing(*map, "budget");
      const std::optional<MemoryBudget> budget =
          budget_node ? reader_.Parsed(*budget_node, map->Child("budget"), ParseMemoryBudget,
                                       "a byte size or a percentage")
                      : std::nullopt;
      int64_t reserve = 0;
      ReadBytes(*map, "reserve", 0, kNoMax, reserve);
      int64_t lora_cache = -1;
      ReadBytes(*map, "lora_cache", 0, kNoMax, lora_cache);
      if (!device || !budget) continue;
      if (lora_cache >= 0) device->lora_cache_bytes = lora_cache;
      if (budget->is_fraction() && device->kind != DeviceKind::kCuda) {
        reader_.Error(budget_node->Mark(), map->Child("budget"),
                      absl::StrCat(budget_node->Scalar(),
                                   " is a share of a card's memory, allowed on cuda devices only;"
                                   " give bytes for ",
                                   device->name, ", e.g. 8GiB"));
        continue;
      }
      if (!budget->is_fraction() && reserve >= budget->bytes) {
        reader_.Error(map->Get("reserve")->Mark(), map->Child("reserve"),
                      absl::StrCat("reserve ", FormatByteSize(reserve),
                                   " leaves nothing of budget ", FormatByteSize(budget->bytes)));
        continue;
      }
      device->budget = *budget;
      device->reserve_bytes = reserve;
      CheckUnique(devices, name_marks, *device, *name, map->Child("name"), "device");
    }
  }

  // Records an error when `item.name` was seen before; else appends it.
  template <typename Spec>
  void CheckUnique(std::vector<Spec>& items, std::vector<YAML::Mark>& marks, Spec item,
                   const YAML::Node& name_node, const std::string& path, const char* what) {
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].name == item.name) {
        reader_.Error(name_node.Mark(), path,
                      absl::StrCat(what, " ", item.name, " is listed twice (first at line ",
                                   marks[i].line + 1, "); names must be unique"));
        return;
      }
    }
    items.push_back(std::move(item));
    marks.push_back(name_node.Mark());
  }

  void ReadModels(const YAML::Node& node, ServerConfig& config) {
    if (!reader_.ExpectSequence(node, "models")) return;
    if (node.size() == 0) reader_.Error(node.Mark(), "models", "must list at least one model");
    std::vector<YAML::Mark> name_marks;
    size_t index = 0;
    for (const YAML::Node& item : node) {
      const std::string path = IndexPath("models", index++);
      const std::optional<YamlMap> map =
          reader_.ReadMap(item, path,
                          {"name", "family", "dir", "paths", "storage", "compute_dtype",
                           "resident_format", "create_demo", "defaults"});
      if (!map) continue;
      ModelSpec model;
      const auto name = map->Get("name");
      std::optional<std::string> name_text;
      if (!name) reader_.Missing(*map, "name");
      if (name) {
        name_text = reader_.Parsed(
            *name, map->Child("name"),
            [](std::string_view text) -> absl::StatusOr<std::string> {
              if (absl::Status status = CheckModelName(text); !status.ok()) return status;
              return std::string(text);
            },
            "a model name");
      }
      if (auto family = map->Get("family")) {
        model.family = reader_.Parsed(*family, map->Child("family"), ParseModelFamily, "a family");
      }
      if (auto dir = map->Get("dir")) {
        Set(model.dir, reader_.NonEmpty(*dir, map->Child("dir")));
        model.dir = Resolve(base_dir_, model.dir);
      } else {
        reader_.Missing(*map, "dir");
      }
      if (auto paths = map->Get("paths")) ReadPaths(*paths, map->Child("paths"), model);
      if (auto storage = map->Get("storage")) {
        Set(model.storage,
            reader_.Parsed(*storage, map->Child("storage"), ParseHostStorage, "a storage"));
      }
      if (auto dtype = map->Get("compute_dtype")) {
        Set(model.compute_dtype,
            reader_.Parsed(*dtype, map->Child("compute_dtype"), ParseComputeDtype, "a dtype"));
      }
      if (auto copy = map->Get("resident_format")) {
        Set(model.resident_format, reader_.Parsed(*copy, map->Child("resident_format"),
                                                  ParseResidentCopy, "a resident format"));
      }
      if (auto demo = map->Get("create_demo")) {
        Set(model.create_demo, reader_.Bool(*demo, map->Child("create_demo")));
      }
      if (auto defaults = map->Get("defaults")) {
        ReadDefaults(*defaults, map->Child("defaults"), config.limits, model);
      }
      if (!name_text) continue;
      model.name = *name_text;
      CheckUnique(config.models, name_marks, std::move(model), *name, map->Child("name"), "model");
    }
  }

  void ReadLoraDirs(const YAML::Node& node, std::vector<std::string>& dirs) {
    if (node.IsSequence()) {
      size_t index = 0;
      for (const YAML::Node& dir : node) {
        if (auto text = reader_.NonEmpty(dir, IndexPath("lora_dirs", index++))) {
          dirs.push_back(Resolve(base_dir_, *text));
        }
      }
    } else if (auto text = reader_.NonEmpty(node, "lora_dirs")) {
      dirs.push_back(Resolve(base_dir_, *text));
    }
  }

  void ReadPaths(const YAML::Node& node, const std::string& path, ModelSpec& model) {
    const std::optional<YamlMap> map = reader_.ReadMap(
        node, path,
        {"transformer", "ae", "t5", "clip", "t5_tokenizer", "clip_vocab", "clip_merges"});
    if (!map) return;
    ModelPathsSpec& paths = model.paths;
    for (const auto& [key, files] :
         {std::pair<const char*, std::vector<std::string>*>{"transformer", &paths.transformer},
          {"ae", &paths.ae},
          {"t5", &paths.t5},
          {"clip", &paths.clip}}) {
      const auto value = map->Get(key);
      if (!value) continue;
      if (value->IsSequence()) {
        size_t index = 0;
        for (const YAML::Node& file : *value) {
          if (auto text = reader_.NonEmpty(file, IndexPath(map->Child(key), index++))) {
            files->push_back(Resolve(model.dir, *text));
          }
        }
      } else if (auto text = reader_.Scalar(*value, map->Child(key), "a file or a list of files")) {
        if (text->empty()) reader_.Error(value->Mark(), map->Child(key), "must not be empty");
        if (!text->empty()) files->push_back(Resolve(model.dir, *text));
      }
    }
    for (const auto& [key, file] :
         {std::pair<const char*, std::string*>{"t5_tokenizer", &paths.t5_tokenizer},
          {"clip_vocab", &paths.clip_vocab},
          {"clip_merges", &paths.clip_merges}}) {
      if (auto value = map->Get(key)) {
        if (auto text = reader_.NonEmpty(*value, map->Child(key)))
          *file = Resolve(model.dir, *text);
      }
    }
  }

  void ReadDefaults(const YAML::Node& node, const std::string& path, const LimitsSpec& limits,
                    ModelSpec& model) {
    const std::optional<YamlMap> map =
        reader_.ReadMap(node, path, {"steps", "width", "height", "guidance", "t5_max_length"});
    if (!map) return;
    ModelDefaultsSpec& defaults = model.defaults;
    // Limits are read first, so a default that no request could ask for is reported here.
    ReadInteger(*map, "steps", 1, limits.max_steps, defaults.steps);
    int width = 0;
    int height = 0;
    ReadSize(*map, "width", limits.min_size, limits.max_size, width);
    ReadSize(*map, "height", limits.min_size, limits.max_size, height);
    if (width > 0) defaults.width = width;
    if (height > 0) defaults.height = height;
    if (width > 0 || height > 0) {
      const int64_t pixels = int64_t{width > 0 ? width : kFamilyDefaultSize} *
                             (height > 0 ? height : kFamilyDefaultSize);
      if (pixels > limits.max_pixels) {
        reader_.Error(map->mark(), path,
                      absl::StrCat("the default size has ", pixels,
                                   " pixels, more than limits.max_pixels ", limits.max_pixels));
      }
    }
    if (auto guidance = map->Get("guidance")) {
      defaults.guidance = reader_.Number(*guidance, map->Child("guidance"), 0.0, 100.0);
      if (defaults.guidance && model.family == ModelFamily::kSchnell) {
        reader_.Error(guidance->Mark(), map->Child("guidance"),
                      "schnell has no guidance input; remove the key");
      }
    }
    ReadInteger(*map, "t5_max_length", 1, 512, defaults.t5_max_length);
  }

  YamlReader& reader_;
  std::string base_dir_;
};

}  // namespace

absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& yaml_text,
                                               const std::string& source_name,
                                               const std::string& base_dir) {
  YamlReader reader(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& error) {
    reader.Error(error.mark, "", absl::StrCat("YAML syntax error: ", error.msg));
    return reader.Finish();
  }
  ServerConfig config;
  config.source = source_name;
  ConfigParser(reader, base_dir).ReadRoot(root, config);
  if (absl::Status status = reader.Finish(); !status.ok()) return status;
  return config;
}

absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path) {
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status)) {
    return absl::NotFoundError(absl::StrCat("configuration file ", path, " not found"));
  }
  if (fs::is_directory(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration file ", path, " is a folder, not a file"));
  }
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  if (!file || file.bad()) {
    return absl::PermissionDeniedError(absl::StrCat("cannot read configuration file ", path));
  }
  const fs::path absolute = fs::absolute(path, error);
  const std::string base_dir = error ? fs::path(path).parent_path().string()
                                     : absolute.lexically_normal().parent_path().string();
  return ParseServerConfig(text.str(), path, base_dir);
}

}  // namespace streamdit::server
