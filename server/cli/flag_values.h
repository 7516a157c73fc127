// Flag values that CLI11 cannot read by itself, each parsed by one function shared by every
// command: byte sizes (--budget) and dtypes (--dtype); and the checks of numeric flags, with
// messages that name the bound (CLI::PositiveNumber's would print DBL_MAX). Numbers themselves are
// CLI11's typed options. Every error here is a parse error: exit 2, the flag named.
#pragma once

#include <torch/types.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace streamdit::server::cli {

// "24GiB", "24G" (binary), "24GB" (decimal), "512MiB", "1.5GiB", "1048576": a positive byte
// count, read by the configuration's parser (server::ParseByteSize) plus the bare K/M/G/T binary
// shorthand. Throws engine::StatusError INVALID_ARGUMENT naming `flag` and the text otherwise.
int64_t ParseByteSize(const std::string& flag, const std::string& text);

// "f32"/"float32", "bf16"/"bfloat16", "f16"/"float16". Throws INVALID_ARGUMENT naming `flag`.
torch::ScalarType ParseDtype(const std::string& flag, const std::string& text);
// The short name ParseDtype reads back ("f32", "bf16", "f16").
std::string DtypeName(torch::ScalarType dtype);

// A SIZE option stored as bytes in `*bytes`; a bad value is a parse error naming the flag.
CLI::Option* AddByteSizeOption(CLI::App& app, const std::string& name, int64_t* bytes,
                               const std::string& description);
// A dtype option stored in `*dtype`; a bad value is a parse error naming the flag.
CLI::Option* AddDtypeOption(CLI::App& app, const std::string& name, torch::ScalarType* dtype,
                            const std::string& description);

// "NAME:SCALE" or "NAME" (strength 1) of --lora: a served LoRA's name, or a LoRA file (local).
// The text after the last ':' is the strength when it is a number, else part of the name. Throws
// INVALID_ARGUMENT naming `flag` for an empty name or a strength that is not finite.
struct LoraFlag {
  std::string name;
  double strength = 1.0;
};
LoraFlag ParseLoraFlag(const std::string& flag, const std::string& text);
// Every NAME:SCALE check of CLI11's parsing: a bad value is a parse error naming the flag.
CLI::Validator LoraValue();

// Checks for numeric options: a number >= `minimum`; a number > 0; a non-negative integer with no
// sign (CLI11 would read "-1" into a uint64_t seed as 2^64 - 1).
CLI::Validator AtLeast(double minimum);
CLI::Validator Positive();
CLI::Validator Unsigned();

}  // namespace streamdit::server::cli
