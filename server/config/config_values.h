// Parsers of the configuration's value types, shared by the YAML loader, the environment overrides
// and the CLI's flags, so that "8GiB", "30s" or "0.0.0.0:50051" mean the same thing everywhere.
// Each returns INVALID_ARGUMENT whose message quotes the value and says what is allowed; it does
// not name a key: the caller knows where the value came from and prefixes that.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/config/server_config.h"

namespace streamdit::server {

// A byte count: a whole number of bytes ("8589934592") or a number with a unit, binary (KiB MiB
// GiB TiB, 1024-based) or decimal (KB MB GB TB, 1000-based; B is bytes), unit case-insensitive,
// optionally after one space ("1.5 GiB"). A fractional result is rounded down to whole bytes.
// Negative values and values past int64 are errors.
absl::StatusOr<int64_t> ParseByteSize(std::string_view text);

// A duration: one or more number-unit pairs with units ms, s, m, h ("30s", "500ms", "2m", "1m30s",
// "1.5s"); a bare number is an error (the unit is not guessed). Rounded to whole milliseconds;
// negative values are errors.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// A device budget: a byte size (ParseByteSize) or a share of the device's memory "90%" (over 0, at
// most 100; CUDA devices only, which the caller checks since it knows the device).
absl::StatusOr<MemoryBudget> ParseMemoryBudget(std::string_view text);

// A listen address: "host:port" (host a name, an IPv4 address or a bracketed IPv6 address such as
// "[::]"; port 0-65535, 0 meaning any free port) or, when allow_unix, "unix:/path" (gRPC).
absl::StatusOr<std::string> ParseListenAddress(std::string_view text, bool allow_unix);

// "cpu", "cpu:N", "cuda" or "cuda:N" (N 0-1023); "cpu" and "cuda" mean index 0. The returned
// spec has name (normalized to "cpu:0" form), kind and index set; budget and reserve untouched.
absl::StatusOr<DeviceConfigSpec> ParseDeviceName(std::string_view text);

// Model names travel in requests and metric labels: 1-64 characters of [A-Za-z0-9._-].
absl::Status CheckModelName(std::string_view name);

// The enumerations' spellings (the names are what the YAML file and flags use).
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);        // trace debug info warn error
absl::StatusOr<ModelFamily> ParseModelFamily(std::string_view text);  // dev schnell
absl::StatusOr<HostStorage> ParseHostStorage(std::string_view text);  // bf16 as-stored fp8
absl::StatusOr<ComputeDtype> ParseComputeDtype(std::string_view text);  // f32 bf16
absl::StatusOr<ResidentCopy> ParseResidentCopy(std::string_view text);  // stored compute

// Readable forms for logs and status pages: "8 GiB", "1.5 GiB", "512 B"; "30s", "1.5s", "250ms".
std::string FormatByteSize(int64_t bytes);
std::string FormatDuration(std::chrono::milliseconds duration);

}  // namespace streamdit::server
