// The service's configuration as typed values. config_loader.h reads it from YAML and checks every
// value; config_overrides.h applies environment variables and flags over it. After a successful
// load every field below holds a valid value and the cross-field rules hold (see the reference).
//
// Configuration file reference (every key; anything else is an error naming the key and line):
//
//   listen: 0.0.0.0:50051        # gRPC address: host:port ([::]:50051 for IPv6) or unix:/path.
//                                #   Default 0.0.0.0:50051. Env STREAMDIT_LISTEN.
//   metrics_listen: 0.0.0.0:9090 # Prometheus exposer address host:port. Optional: absent means no
//                                #   exposer. Env STREAMDIT_METRICS_LISTEN.
//   grace_period: 30s            # Drain time on SIGTERM: ms, s, m, h ("500ms", "1m30s"). Default
//                                #   30s. Env STREAMDIT_GRACE_PERIOD.
//   log_level: info              # trace | debug | info | warn | error. Default info.
//                                #   Env STREAMDIT_LOG_LEVEL.
//   default_model: flux1-demo    # Model for requests that name none. Default: the first model.
//   devices:                     # Required, at least one; one worker and one budget per device.
//     - name: cuda:0             # cpu | cpu:N | cuda | cuda:N | cuda:all ("cpu" = "cpu:0"; all:
//                                #   every visible card, found at start, each with this entry's
//                                #   budget). Several CPU devices are allowed (each its own
//                                #   worker and budget). Unique.
//       budget: 90%              # Required. Bytes ("8589934592"), with a unit (KiB MiB GiB TiB,
//                                #   KB MB GB TB: "15GiB", "1.5 GiB"), or a share of the card's
//                                #   total memory ("90%", CUDA only, resolved at startup).
//       reserve: 1GiB            # Subtracted from the budget (CUDA context, fragmentation).
//                                #   Default 0; must leave a positive budget.
//       lora_cache: 2GiB         # Optional: bound of the device's LoRA adapter cache (idle
//                                #   adapters kept, least recently used out); default budget/10.
//   models:                      # Required, at least one.
//     - name: flux1-dev          # Required, unique; 1-64 characters of [A-Za-z0-9._-].
//       family: dev              # dev | schnell. Default: inferred from the transformer.
//       dir: /models/flux1-dev   # Required. The model's folder. A relative path is relative to
//                                #   the folder of the configuration file.
//       paths:                   # Optional component files, relative to dir; a component left out
//         transformer: flux1-dev.safetensors  # is found by its usual name. transformer, ae, t5
//         ae: ae.safetensors     #   and clip take one file or a list (diffusers shards).
//         t5: t5xxl_fp16.safetensors          # t5_tokenizer, clip_vocab, clip_merges take one.
//         clip: clip_l.safetensors
//         t5_tokenizer: spiece.model
//         clip_vocab: vocab.json
//         clip_merges: merges.txt
//       storage: fp8             # Host storage of the transformer's weights: bf16 (as stored;
//                                #   "as-stored" too) | fp8 (half the bytes held and streamed).
//                                #   Default bf16.
//       compute_dtype: bf16      # f32 | bf16. Default f32.
//       create_demo: false       # Write the demo model into dir when it is missing. Default false.
//       defaults:                # Per-model request defaults; each defaults to the family's.
//         steps: 50              #   1..limits.max_steps
//         width: 1024            #   limits.min_size..limits.max_size, a multiple of 16; with
//         height: 1024           #   height, at most limits.max_pixels pixels
//         guidance: 3.5          #   0..100; not for schnell (it has no guidance input)
//         t5_max_length: 512     #   1..512 tokens
//   lora_dirs:                   # Optional: folders of LoRA files (kohya, diffusers/PEFT or BFL
//     - /models/loras            #   safetensors) that requests may name. Each *.safetensors file
//                                #   is a LoRA named by its file name without the extension
//                                #   (the first folder wins a name); scanned at start and again
//                                #   on SIGHUP or the ReloadLoras RPC. Relative to the
//                                #   configuration's folder. One folder may be given as a string.
//   scheduler:                   # Optional; each key has a default.
//     queue_capacity: 256        #   Queued jobs per priority class (1..1000000). Default 256.
//     max_batch_images: 4        #   Images per launch, 1 disables batching (1..64). Default 4.
//     aging: 10s                 #   Wait worth one priority class. Default 10s.
//     head_reservation_after: 20s  # The queue's head reserves a device after this wait.
//     max_oom_retries: 3         #   Re-plans after out-of-memory (0..100). Default 3.
//     max_failure_retries: 3     #   Retries after a device failure (0..100). Default 3.
//   limits:                      # Optional; what a request may ask for.
//     min_size: 64               #   Width/height bounds, multiples of 16. Default 64.
//     max_size: 2048             #   Default 2048.
//     max_pixels: 4194304        #   width * height. Default 4194304 (2048 x 2048).
//     max_steps: 100             #   Default 100.
//     max_prompt_bytes: 8192     #   Default 8192.
//     max_images_per_request: 4  #   Default 4.
//     max_message_bytes: 64MiB   #   gRPC max receive/send message (a byte size, < 2 GiB).
//     max_concurrent_streams: 256  # Default 256.
//   tls:                         # Optional; absent means plaintext.
//     cert: server.crt           #   Required with tls. Relative to the configuration's folder.
//     key: server.key            #   Required with tls.
//     client_ca: ca.crt          #   Optional; when set clients must present a certificate (mTLS).
//   http:                        # Optional; absent means no HTTP front end (OpenAI's images API).
//     listen: 0.0.0.0:8080       #   Required with http: host:port. Env STREAMDIT_HTTP_LISTEN,
//                                #   flag --http-listen (either turns HTTP on).
//     max_body_bytes: 1MiB       #   Larger request bodies get 413. Default 1 MiB.
//   auth:                        # Optional; absent means no API keys (every client is let in).
//     api_keys_file: keys.txt    #   Keys, one per line (# comments). Relative to the config's
//                                #   folder. Or:
//     api_keys_env: STREAMDIT_API_KEYS  # The environment variable holding the keys (comma- or
//                                #   newline-separated). Keys never come from the command line.
//                                #   Both protocols then need "Bearer KEY"; health, readiness
//                                #   and /metrics stay open.
//
// A key with an empty value ("metrics_listen:") is the same as leaving the key out. Integers may
// not be written as strings of other types ("four", 4.5); booleans are true or false.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace streamdit::server {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class DeviceKind { kCpu, kCuda };
enum class ModelFamily { kDev, kSchnell };
// How the transformer's weights are held in host memory (engine WeightStorage): as the checkpoint
// stores them (bf16 for FLUX releases), or matmul weights as fp8 e4m3 with per-tensor scales.
enum class HostStorage { kAsStored, kFp8 };
enum class ComputeDtype { kF32, kBf16 };
// How a resident copy (kLoad/kShared) holds the matmul weights stored in another format than the
// compute dtype (engine ResidentFormat): as stored, decoded at each use (fp8 FLUX.1-dev resident
// on a 16 GB card), or decoded once at load (no decode per step, 2-7x the bytes).
enum class ResidentCopy { kStored, kCompute };

// "trace", "cuda", "dev", "bf16" (HostStorage::kAsStored), "f32"...: the spellings the file uses.
const char* LogLevelName(LogLevel level);
const char* DeviceKindName(DeviceKind kind);
const char* ModelFamilyName(ModelFamily family);
const char* HostStorageName(HostStorage storage);
const char* ComputeDtypeName(ComputeDtype dtype);
const char* ResidentCopyName(ResidentCopy copy);  // "stored", "compute"

// A device's memory budget: a byte count, or a share of the device's total memory that is known
// only once the device is opened (CUDA).
struct MemoryBudget {
  int64_t bytes = 0;      // used when fraction == 0
  double fraction = 0.0;  // in (0, 1] when set: this share of the device's total memory
  bool is_fraction() const { return fraction > 0.0; }
  // bytes, or floor(fraction * device_total_bytes).
  int64_t Resolve(int64_t device_total_bytes) const;
};

struct DeviceConfigSpec {
  std::string name;  // normalized: "cpu:0", "cuda:1" (also the metrics' device label)
  DeviceKind kind = DeviceKind::kCpu;
  int index = 0;  // kAllCudaDevices for "cuda:all"
  static constexpr int kAllCudaDevices = -1;
  MemoryBudget budget;
  int64_t reserve_bytes = 0;
  // `lora_cache`: the device's LoRA adapter cache bound (scheduler::DeviceConfig::
  // adapter_cache_bytes); unset: a tenth of the effective budget.
  std::optional<int64_t> lora_cache_bytes;
  // The bytes the scheduler may place on this device: budget.Resolve(total) - reserve_bytes.
  // INVALID_ARGUMENT naming the device when that is not positive. device_total_bytes is only read
  // for a fractional budget.
  absl::StatusOr<int64_t> EffectiveBudget(int64_t device_total_bytes) const;
};

// Component files; each already joined with the model's dir. Empty: found by the usual names.
struct ModelPathsSpec {
  std::vector<std::string> transformer;  // one file, or diffusers shards
  std::vector<std::string> ae;
  std::vector<std::string> t5;
  std::vector<std::string> clip;
  std::string t5_tokenizer;  // spiece.model
  std::string clip_vocab;    // vocab.json
  std::string clip_merges;   // merges.txt
};

// Overrides of the family's sampling defaults; unset means the family's value.
struct ModelDefaultsSpec {
  std::optional<int> steps;
  std::optional<int> width;
  std::optional<int> height;
  std::optional<double> guidance;
  std::optional<int> t5_max_length;
};

struct ModelSpec {
  std::string name;
  std::optional<ModelFamily> family;  // unset: inferred from the transformer (guidance_in -> dev)
  std::string dir;                    // joined with the configuration's folder when relative
  ModelPathsSpec paths;
  HostStorage storage = HostStorage::kAsStored;
  ComputeDtype compute_dtype = ComputeDtype::kF32;
  ResidentCopy resident_format = ResidentCopy::kStored;
  bool create_demo = false;
  ModelDefaultsSpec defaults;
};

struct SchedulerSpec {
  int64_t queue_capacity = 256;  // per priority class
  int max_batch_images = 4;
  std::chrono::milliseconds aging{10000};
  std::chrono::milliseconds head_reservation_after{20000};
  int max_oom_retries = 3;
  int max_failure_retries = 3;
};

struct LimitsSpec {
  int min_size = 64;  // width and height; multiples of 16
  int max_size = 2048;
  int64_t max_pixels = 4194304;
  int max_steps = 100;
  int64_t max_prompt_bytes = 8192;
  int max_images_per_request = 4;
  int64_t max_message_bytes = 64ll << 20;  // fits gRPC's int
  int max_concurrent_streams = 256;
};

// Paths joined with the configuration's folder when relative; not opened by the loader.
struct TlsSpec {
  std::string cert;
  std::string key;
  std::string client_ca;  // empty: no client certificates (plain TLS); set: mTLS
};

struct HttpSpec {
  std::string listen;                // host:port
  int64_t max_body_bytes = 1 << 20;  // 1 KiB .. 1 GiB
};

// Where the API keys come from (at most one of the two is set; neither: no keys).
struct AuthSpec {
  std::string api_keys_file;  // joined with the configuration's folder when relative
  std::string api_keys_env;   // the variable's name
};

struct ServerConfig {
  std::string source;  // where it came from (the file's path, or ParseServerConfig's source_name)
  std::string listen = "0.0.0.0:50051";
  std::optional<std::string> metrics_listen;  // unset: no Prometheus exposer
  std::chrono::milliseconds grace_period{30000};
  LogLevel log_level = LogLevel::kInfo;
  std::string default_model;  // after loading: always the name of one of `models`
  std::vector<DeviceConfigSpec> devices;
  std::vector<ModelSpec> models;
  std::vector<std::string> lora_dirs;  // joined with the configuration's folder when relative
  SchedulerSpec scheduler;
  LimitsSpec limits;
  std::optional<TlsSpec> tls;
  std::optional<HttpSpec> http;  // unset: no HTTP front end
  AuthSpec auth;

  // nullptr when no model has that name.
  const ModelSpec* FindModel(std::string_view name) const;
};

}  // namespace streamdit::server
