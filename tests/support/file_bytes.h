// Whole files as byte strings, for tests that write inputs and read outputs. Throws
// std::runtime_error naming the file when it cannot be read or written.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace streamdit::test_support {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

}  // namespace streamdit::test_support
