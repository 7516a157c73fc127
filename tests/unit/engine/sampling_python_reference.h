#pragma once

// Helpers for the sampling tests: run tests/reference/sampling_reference.py with Debian's python3
// (numpy + torch 1.13) and exchange tensors with it as raw little-endian bytes in a scratch folder.

#include <gtest/gtest.h>
#include <torch/types.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine::testing {

using test_support::ScratchDir;

// Runs tests/reference/sampling_reference.py with `args` (shell-safe: numbers and scratch paths)
// and returns its stdout; throws (failing the calling test) if it exits non-zero.
inline std::string RunReference(const std::string& args) {
  return test_support::RunPythonReference("sampling_reference.py", args);
}

// A double as text that parses back to the same value.
inline std::string ExactDouble(double value) {
  std::array<char, 32> text;
  std::snprintf(text.data(), text.size(), "%.17g", value);
  return text.data();
}

// Parses whitespace-separated python float repr()s (round-trip exact).
inline std::vector<double> ParseDoubles(const std::string& text) {
  std::vector<double> values;
  std::istringstream in(text);
  std::string token;
  while (in >> token) values.push_back(std::stod(token));
  return values;
}

// One vector of doubles per output line.
inline std::vector<std::vector<double>> ParseDoubleLines(const std::string& text) {
  std::vector<std::vector<double>> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(ParseDoubles(line));
  return lines;
}

inline void WriteRaw(const std::string& path, const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.contiguous();
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(t.data_ptr()),
            static_cast<std::streamsize>(t.numel() * t.element_size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Reads a raw file into a CPU tensor of `sizes` and `dtype`; the byte count must match exactly.
inline torch::Tensor ReadRaw(const std::string& path, at::IntArrayRef sizes,
                             torch::ScalarType dtype) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  torch::Tensor t = at::empty(sizes, at::TensorOptions().dtype(dtype));
  if (bytes.size() != static_cast<size_t>(t.numel() * t.element_size())) {
    throw std::runtime_error(path + ": " + std::to_string(bytes.size()) + " bytes, expected " +
                             std::to_string(t.numel() * t.element_size()));
  }
  std::copy(bytes.begin(), bytes.end(), static_cast<char*>(t.data_ptr()));
  return t;
}

}  // namespace streamdit::engine::testing
