#include "server/cli/flag_values.h"

#include <cctype>
#include <cmath>
#include <exception>
#include <optional>
#include <sstream>

#include "engine/status/status_error.h"
#include "server/config/config_values.h"

namespace streamdit::server::cli {

int64_t ParseByteSize(const std::string& flag, const std::string& text) {
  // The configuration's parser (server/config/config_values.h), so that a size means the same in
  // a flag, the YAML file and the environment. Flags also take a bare K/M/G/T as binary units.
  std::string normalized = text;
  if (!normalized.empty() && std::string("kKmMgGtT").find(normalized.back()) != std::string::npos &&
      (normalized.size() < 2 || std::isdigit(static_cast<unsigned char>(normalized.end()[-2])) ||
       normalized.end()[-2] == '.')) {
    normalized += "iB";
  }
  const absl::StatusOr<int64_t> bytes = server::ParseByteSize(normalized);
  if (!bytes.ok()) {
    throw engine::InvalidArgument(flag + ": " + std::string(bytes.status().message()));
  }
  if (*bytes <= 0) throw engine::InvalidArgument(flag + " must be positive, got '" + text + "'");
  return *bytes;
}

torch::ScalarType ParseDtype(const std::string& flag, const std::string& text) {
  if (text == "f32" || text == "float32") return torch::kFloat;
  if (text == "bf16" || text == "bfloat16") return torch::kBFloat16;
  if (text == "f16" || text == "float16") return torch::kHalf;
  throw engine::InvalidArgument(flag + " must be f32, bf16 or f16, got '" + text + "'");
}

std::string DtypeName(torch::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat:
      return "f32";
    case torch::kBFloat16:
      return "bf16";
    case torch::kHalf:
      return "f16";
    default:
      return c10::toString(dtype);
  }
}

namespace {

// A CLI11 option whose text `parse` turns into the target; its error becomes a parse error
// (CLI::ValidationError, exit 2) with the parser's message.
template <typename T, typename Parse>
CLI::Option* AddParsedOption(CLI::App& app, const std::string& name, T* target,
                             const std::string& description, const std::string& type_name,
                             Parse parse) {
  return app
      .add_option_function<std::string>(
          name,
          [target, name, parse](const std::string& text) {
            try {
              *target = parse(name, text);
            } catch (const std::exception& error) {
              throw CLI::ValidationError(error.what());
            }
          },
          description)
      ->type_name(type_name);
}

// The text as a number, or nullopt (whole text only: "12abc" is not 12).
std::optional<double> Number(const std::string& text) {
  std::size_t used = 0;
  try {
    const double value = std::stod(text, &used);
    if (used == text.size()) return value;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string Shortest(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

CLI::Validator AtLeast(double minimum) {
  return CLI::Validator(
      [minimum](std::string& text) -> std::string {
        const std::optional<double> value = Number(text);
        if (!value) return "expects a number, got '" + text + "'";
        if (*value < minimum) return "must be at least " + Shortest(minimum) + ", got " + text;
        return "";
      },
      "", ">=" + Shortest(minimum));
}

CLI::Validator Positive() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::optional<double> value = Number(text);
        if (!value) return "expects a number, got '" + text + "'";
        if (!(*value > 0)) return "must be positive, got " + text;
        return "";
      },
      "", "positive");
}

CLI::Validator Unsigned() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
          return "expects a non-negative integer, got '" + text + "'";
        }
        return "";
      },
      "", "unsigned");
}

CLI::Option* AddByteSizeOption(CLI::App& app, const std::string& name, int64_t* bytes,
                               const std::string& description) {
  return AddParsedOption(app, name, bytes, description, "SIZE", ParseByteSize);
}

CLI::Option* AddDtypeOption(CLI::App& app, const std::string& name, torch::ScalarType* dtype,
                            const std::string& description) {
  return AddParsedOption(app, name, dtype, description, "f32|bf16|f16", ParseDtype);
}

LoraFlag ParseLoraFlag(const std::string& flag, const std::string& text) {
  LoraFlag lora{text, 1.0};
  const std::size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    if (const std::optional<double> strength = Number(text.substr(colon + 1))) {
      lora.name = text.substr(0, colon);
      lora.strength = *strength;
    }
  }
  if (lora.name.empty()) {
    throw engine::InvalidArgument(flag + " expects NAME[:SCALE], got '" + text + "'");
  }
  if (!std::isfinite(lora.strength)) {
    throw engine::InvalidArgument(flag + ": the strength must be a finite number, got '" + text +
                                  "'");
  }
  return lora;
}

CLI::Validator LoraValue() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          ParseLoraFlag("--lora", text);
        } catch (const engine::StatusError& error) {
          return error.what();
        }
        return "";
      },
      "", "NAME[:SCALE]");
}

}  // namespace streamdit::server::cli
