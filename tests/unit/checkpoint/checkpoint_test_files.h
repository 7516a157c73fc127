// Helpers shared by the checkpoint tests: a private scratch directory per test and writers for raw
// (possibly malformed) safetensors bytes, which SafetensorsWriter deliberately cannot produce.
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

namespace streamdit::engine::testing_files {

// A fresh directory under the GoogleTest temp dir, removed with everything in it at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = ::testing::TempDir() + "streamdit_ckpt_XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

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

// Runs tests/reference/checkpoint_reference.py with Debian's python3 (which has numpy) and returns
// its stdout; throws when it cannot start or exits non-zero. `args` must be shell-safe (scratch
// paths and words).
inline std::string RunCheckpointReference(const std::string& args) {
  const std::string command = std::string("/usr/bin/python3 ") + STREAMDIT_SOURCE_DIR +
                              "/tests/reference/checkpoint_reference.py " + args;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string output;
  char buffer[4096];
  std::size_t count;
  while ((count = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, count);
  const int status = ::pclose(pipe);
  if (status != 0) {
    throw std::runtime_error("reference failed (status " + std::to_string(status) +
                             "): " + command);
  }
  return output;
}

}  // namespace streamdit::engine::testing_files
