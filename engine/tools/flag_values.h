// Reading the values of command-line flags, with errors that name the flag and the text given.
#pragma once

#include <cstdint>
#include <string>

namespace streamdit::engine {

// The whole text must be the number; throws std::invalid_argument naming `flag` otherwise.
int ParseIntFlag(const std::string& flag, const std::string& text);
double ParseDoubleFlag(const std::string& flag, const std::string& text);
// A non-negative integer that fits 64 bits (seeds).
uint64_t ParseUnsignedFlag(const std::string& flag, const std::string& text);
// "24GiB", "24G" (binary), "24GB" (decimal), "512MiB", "1048576": a positive byte count.
int64_t ParseByteSize(const std::string& flag, const std::string& text);

}  // namespace streamdit::engine
