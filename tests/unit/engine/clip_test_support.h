#pragma once

// Helpers for the CLIP tests: scratch folders, file I/O, and running the independent Python
// references (tests/reference/clip_*.py) with Debian's /usr/bin/python3.

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace streamdit::engine::clip_testing {

inline std::string SourcePath(const std::string& relative) {
  return std::string(STREAMDIT_SOURCE_DIR) + "/" + relative;
}

// A fresh folder under the system temp dir, removed when the object goes away.
class ClipScratchDir {
 public:
  ClipScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "streamdit_clip_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ClipScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ClipScratchDir(const ClipScratchDir&) = delete;
  ClipScratchDir& operator=(const ClipScratchDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Runs `script` (relative to tests/reference/) with `args` (scratch paths and numbers, no shell
// metacharacters); throws with the output when it exits non-zero.
inline void RunPythonReference(const std::string& script, const std::string& args) {
  const std::string command =
      "/usr/bin/python3 " + SourcePath("tests/reference/" + script) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string output;
  std::array<char, 4096> buffer;
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  if (status != 0) throw std::runtime_error("reference failed: " + command + "\n" + output);
}

}  // namespace streamdit::engine::clip_testing
