// A fresh directory under the system temp dir (TMPDIR), removed with everything in it when the
// object goes away: the one scratch folder every engine and checkpoint test writes into. Only the
// process that made it removes it, so a forked child that exits cannot pull it from its parent.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace streamdit::test_support {

class ScratchDir {
 public:
  // `prefix` names the folder ("<prefix>_XXXXXX") so that a leftover says which suite made it.
  explicit ScratchDir(const std::string& prefix = "streamdit") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + pattern);
    path_ = pattern;
  }
  ~ScratchDir() {
    if (getpid() != owner_) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
  pid_t owner_ = getpid();
};

}  // namespace streamdit::test_support
