#include "server/config/config_values.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace streamdit::server {
namespace {

// The value as an error message shows it: quoted, and cut short so a pasted blob stays readable.
std::string Quote(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string shown(text.substr(0, kMax));
  if (text.size() > kMax) shown += "...";
  return absl::StrCat("\"", shown, "\"");
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A non-negative decimal number at the front of `text` ("12", "1.5"), consumed. The whole part is
// kept exact (byte counts past 2^53 must not round); the fraction separately.
struct Decimal {
  uint64_t whole = 0;
  double fraction = 0.0;  // in [0, 1)
  bool has_fraction = false;
};

std::optional<Decimal> ConsumeDecimal(std::string_view& text) {
  size_t digits = 0;
  while (digits < text.size() && IsDigit(text[digits])) ++digits;
  if (digits == 0) return std::nullopt;
  Decimal number;
  const auto [end, error] = std::from_chars(text.data(), text.data() + digits, number.whole);
  if (error != std::errc() || end != text.data() + digits) return std::nullopt;  // overflow
  size_t used = digits;
  if (used < text.size() && text[used] == '.') {
    size_t fraction_digits = 0;
    while (used + 1 + fraction_digits < text.size() && IsDigit(text[used + 1 + fraction_digits])) {
      ++fraction_digits;
    }
    if (fraction_digits == 0) return std::nullopt;  // "1." is not a number here
    double fraction = 0.0;
    std::from_chars(text.data() + used, text.data() + used + 1 + fraction_digits, fraction);
    number.fraction = fraction;
    number.has_fraction = true;
    used += 1 + fraction_digits;
  }
  text.remove_prefix(used);
  return number;
}

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseEnum(std::string_view text,
                               const std::array<std::pair<const char*, Enum>, N>& names) {
  std::vector<std::string> allowed;
  for (const auto& [name, value] : names) {
    if (text == name) return value;
    allowed.push_back(name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat(Quote(text), " is not allowed; must be one of ", absl::StrJoin(allowed, ", ")));
}

}  // namespace

absl::StatusOr<int64_t> ParseByteSize(std::string_view text) {
  const auto invalid = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " is not a byte size", why,
        "; use whole bytes (8589934592) or a number with a unit: KiB, MiB, GiB, TiB (1024-based)"
        " or KB, MB, GB, TB (1000-based), e.g. 8GiB"));
  };
  if (!text.empty() && text[0] == '-') return invalid(" (it is negative)");
  std::string_view rest = text;
  const std::optional<Decimal> number = ConsumeDecimal(rest);
  if (!number) return invalid("");
  if (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
  const std::string unit = absl::AsciiStrToLower(std::string(rest));
  static constexpr std::array<std::pair<const char*, int64_t>, 9> kUnits = {{
      {"b", 1},
      {"kib", 1ll << 10},
      {"mib", 1ll << 20},
      {"gib", 1ll << 30},
      {"tib", 1ll << 40},
      {"kb", 1000ll},
      {"mb", 1000ll * 1000},
      {"gb", 1000ll * 1000 * 1000},
      {"tb", 1000ll * 1000 * 1000 * 1000},
  }};
  int64_t multiplier = 0;
  if (unit.empty() && rest.empty()) {
    if (number->has_fraction) return invalid(" (a fraction of a byte needs a unit)");
    multiplier = 1;
  }
  for (const auto& [name, value] : kUnits) {
    if (unit == name) multiplier = value;
  }
  if (multiplier == 0) return invalid("");
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (number->whole > static_cast<uint64_t>(kMax / multiplier)) return invalid(" (too large)");
  const int64_t whole = static_cast<int64_t>(number->whole) * multiplier;
  const auto part = static_cast<int64_t>(std::floor(number->fraction * multiplier));
  if (whole > kMax - part) return invalid(" (too large)");
  return whole + part;
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const auto invalid = [&](const char* why) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is not a duration", why,
                     "; use a number with a unit ms, s, m or h, e.g. 30s, 500ms, 2m, 1m30s"));
  };
  if (!text.empty() && text[0] == '-') return invalid(" (it is negative)");
  std::string_view rest = text;
  double total_ms = 0.0;
  do {
    const std::optional<Decimal> number = ConsumeDecimal(rest);
    if (!number) return invalid("");
    // Longest unit first: "ms" before "m".
    static constexpr std::array<std::pair<std::string_view, double>, 4> kUnits = {{
        {"ms", 1.0},
        {"s", 1e3},
        {"m", 60e3},
        {"h", 3600e3},
    }};
    double unit_ms = 0.0;
    for (const auto& [name, ms] : kUnits) {
      if (rest.substr(0, name.size()) == name) {
        unit_ms = ms;
        rest.remove_prefix(name.size());
        break;
      }
    }
    if (unit_ms == 0.0) return invalid(rest.empty() ? " (the unit is missing)" : "");
    total_ms += (static_cast<double>(number->whole) + number->fraction) * unit_ms;
  } while (!rest.empty());
  constexpr double kMaxMs = 1e12;  // about 31 years; keeps every later conversion in range
  if (total_ms > kMaxMs) return invalid(" (too long)");
  return std::chrono::milliseconds(std::llround(total_ms));
}

absl::StatusOr<MemoryBudget> ParseMemoryBudget(std::string_view text) {
  MemoryBudget budget;
  if (!text.empty() && text.back() == '%') {
    std::string_view rest = text.substr(0, text.size() - 1);
    const std::optional<Decimal> number = ConsumeDecimal(rest);
    const double percent = number ? static_cast<double>(number->whole) + number->fraction : 0.0;
    if (!number || !rest.empty() || percent <= 0.0 || percent > 100.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          Quote(text), " is not a share of the device's memory; use over 0% and at most 100%"));
    }
    budget.fraction = percent / 100.0;
    return budget;
  }
  absl::StatusOr<int64_t> bytes = ParseByteSize(text);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(bytes.status().message(), ", or a share of a CUDA device's memory, e.g. 90%"));
  }
  if (*bytes == 0) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(text), ": a budget must be positive"));
  }
  budget.bytes = *bytes;
  return budget;
}

absl::StatusOr<std::string> ParseListenAddress(std::string_view text, bool allow_unix) {
  const auto invalid = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " is not a listen address", why, "; use host:port, e.g. 0.0.0.0:50051 or",
        " [::]:50051", allow_unix ? ", or unix:/path/to/socket" : ""));
  };
  if (text.substr(0, 5) == "unix:") {
    if (!allow_unix) return invalid(" (a unix socket is not allowed here)");
    if (text.size() == 5) return invalid(" (the socket path is missing)");
    return std::string(text);
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid(" (the port is missing)");
  const std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.empty()) return invalid(" (the host is missing)");
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return invalid(" (unclosed [ of an IPv6 host)");
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.' && c != '%') {
        return invalid(" (bad IPv6 address)");
      }
    }
  } else {
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return invalid(c == ':' ? " (write an IPv6 host in brackets)" : " (bad host name)");
      }
    }
  }
  int port_number = -1;
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || port.size() > 5 || error != std::errc() || end != port.data() + port.size() ||
      port_number < 0 || port_number > 65535) {
    return invalid(" (the port must be 0-65535)");
  }
  return std::string(text);
}

absl::StatusOr<DeviceConfigSpec> ParseDeviceName(std::string_view text) {
  DeviceConfigSpec device;
  std::string_view kind = text;
  std::string_view index;
  if (const size_t colon = text.find(':'); colon != std::string_view::npos) {
    kind = text.substr(0, colon);
    index = text.substr(colon + 1);
  }
  const bool kind_ok = kind == "cpu" || kind == "cuda";
  if (kind == "cuda" && index == "all") {
    device.kind = DeviceKind::kCuda;
    device.index = DeviceConfigSpec::kAllCudaDevices;
    device.name = "cuda:all";
    return device;
  }
  int number = 0;
  bool index_ok = true;
  if (text.find(':') != std::string_view::npos) {
    const auto [end, error] = std::from_chars(index.data(), index.data() + index.size(), number);
    index_ok = !index.empty() && index.size() <= 4 && error == std::errc() &&
               end == index.data() + index.size() && number >= 0 && number <= 1023;
  }
  if (!kind_ok || !index_ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " is not a device; use cpu, cpu:N, cuda:N (N from 0 to 1023) or cuda:all"));
  }
  device.kind = kind == "cuda" ? DeviceKind::kCuda : DeviceKind::kCpu;
  device.index = number;
  device.name = absl::StrCat(std::string(kind), ":", number);
  return device;
}

absl::Status CheckModelName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      Quote(name), " is not a model name; use 1-64 characters of letters, digits, '.', '_', '-'"));
}

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text) {
  static constexpr std::array<std::pair<const char*, LogLevel>, 5> kNames = {{
      {"trace", LogLevel::kTrace},
      {"debug", LogLevel::kDebug},
      {"info", LogLevel::kInfo},
      {"warn", LogLevel::kWarn},
      {"error", LogLevel::kError},
  }};
  return ParseEnum(text, kNames);
}

absl::StatusOr<ModelFamily> ParseModelFamily(std::string_view text) {
  static constexpr std::array<std::pair<const char*, ModelFamily>, 2> kNames = {{
      {"dev", ModelFamily::kDev},
      {"schnell", ModelFamily::kSchnell},
  }};
  return ParseEnum(text, kNames);
}

absl::StatusOr<HostStorage> ParseHostStorage(std::string_view text) {
  static constexpr std::array<std::pair<const char*, HostStorage>, 3> kNames = {{
      {"bf16", HostStorage::kAsStored},
      {"as-stored", HostStorage::kAsStored},
      {"fp8", HostStorage::kFp8},
  }};
  return ParseEnum(text, kNames);
}

absl::StatusOr<ResidentCopy> ParseResidentCopy(std::string_view text) {
  static constexpr std::array<std::pair<const char*, ResidentCopy>, 2> kNames = {{
      {"stored", ResidentCopy::kStored},
      {"compute", ResidentCopy::kCompute},
  }};
  return ParseEnum(text, kNames);
}

absl::StatusOr<ComputeDtype> ParseComputeDtype(std::string_view text) {
  static constexpr std::array<std::pair<const char*, ComputeDtype>, 2> kNames = {{
      {"f32", ComputeDtype::kF32},
      {"bf16", ComputeDtype::kBf16},
  }};
  return ParseEnum(text, kNames);
}

std::string FormatByteSize(int64_t bytes) {
  static constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t unit = 0;
  double value = static_cast<double>(bytes);
  while (unit + 1 < kUnits.size() && std::fabs(value) >= 1024.0) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", value);
  std::string shown = text;  // "1.50" -> "1.5", "8.00" -> "8"
  while (shown.back() == '0') shown.pop_back();
  if (shown.back() == '.') shown.pop_back();
  return absl::StrCat(shown, " ", kUnits[unit]);
}

std::string FormatDuration(std::chrono::milliseconds duration) {
  const int64_t ms = duration.count();
  if (ms % 1000 == 0) return absl::StrCat(ms / 1000, "s");
  if (ms < 1000) return absl::StrCat(ms, "ms");
  return absl::StrCat(static_cast<double>(ms) / 1000.0, "s");
}

}  // namespace streamdit::server
