#include "server/cli/image_files.h"

#include <filesystem>
#include <fstream>

#include "engine/status/status_error.h"

namespace streamdit::server::cli {

std::string ImagePath(const std::string& out, int index, int count) {
  if (count == 1) return out;
  const std::filesystem::path path(out);
  return (path.parent_path() /
          (path.stem().string() + "-" + std::to_string(index) + path.extension().string()))
      .string();
}

void WriteImageFile(const std::string& path, const std::string& bytes) {
  const std::filesystem::path file(path);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!stream.flush()) throw engine::Internal("cannot write " + path);
}

}  // namespace streamdit::server::cli
