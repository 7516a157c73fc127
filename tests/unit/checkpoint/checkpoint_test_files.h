// Helpers shared by the checkpoint tests: the shared scratch directory (tests/support/) and writers
// for raw (possibly malformed) safetensors bytes, which SafetensorsWriter deliberately cannot
// produce.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine::testing_files {

using test_support::ScratchDir;

inline std::string LengthPrefix(uint64_t length) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  return bytes;
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// A safetensors file with the given header text and `data_bytes` bytes of data (pattern-filled).
inline void WriteRawSafetensors(const std::string& path, const std::string& header,
                                std::size_t data_bytes) {
  std::string bytes = LengthPrefix(header.size()) + header;
  for (std::size_t i = 0; i < data_bytes; ++i) bytes.push_back(static_cast<char>(i * 7 + 1));
  WriteBytes(path, bytes);
}

// The CheckpointError `action` throws, or nullopt when it returns normally. Other exception types
// propagate and fail the test.
template <typename Action>
std::optional<CheckpointError> CaptureCheckpointError(Action&& action) {
  try {
    action();
  } catch (const CheckpointError& error) {
    return error;
  }
  return std::nullopt;
}

// Runs tests/reference/checkpoint_reference.py and returns its stdout; throws when it exits
// non-zero. `args` must be shell-safe (scratch paths and words).
inline std::string RunCheckpointReference(const std::string& args) {
  return test_support::RunPythonReference("checkpoint_reference.py", args);
}

}  // namespace streamdit::engine::testing_files
