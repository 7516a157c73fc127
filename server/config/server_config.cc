#include "server/config/server_config.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/config/config_values.h"

namespace streamdit::server {

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

const char* DeviceKindName(DeviceKind kind) { return kind == DeviceKind::kCuda ? "cuda" : "cpu"; }

const char* ModelFamilyName(ModelFamily family) {
  return family == ModelFamily::kSchnell ? "schnell" : "dev";
}

const char* HostStorageName(HostStorage storage) {
  return storage == HostStorage::kFp8 ? "fp8" : "bf16";
}

const char* ComputeDtypeName(ComputeDtype dtype) {
  return dtype == ComputeDtype::kBf16 ? "bf16" : "f32";
}

const char* ResidentCopyName(ResidentCopy copy) {
  return copy == ResidentCopy::kCompute ? "compute" : "stored";
}

int64_t MemoryBudget::Resolve(int64_t device_total_bytes) const {
  if (!is_fraction()) return bytes;
  return static_cast<int64_t>(std::floor(fraction * static_cast<double>(device_total_bytes)));
}

absl::StatusOr<int64_t> DeviceConfigSpec::EffectiveBudget(int64_t device_total_bytes) const {
  const int64_t budget_bytes = budget.Resolve(device_total_bytes);
  if (budget_bytes - reserve_bytes <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device ", name, ": budget ", FormatByteSize(budget_bytes),
        budget.is_fraction() ? absl::StrCat(" (", budget.fraction * 100.0, "% of ",
                                            FormatByteSize(device_total_bytes), ")")
                             : "",
        " minus reserve ", FormatByteSize(reserve_bytes), " leaves nothing to place work in"));
  }
  return budget_bytes - reserve_bytes;
}

const ModelSpec* ServerConfig::FindModel(std::string_view name) const {
  for (const ModelSpec& model : models) {
    if (model.name == name) return &model;
  }
  return nullptr;
}

}  // namespace streamdit::server
