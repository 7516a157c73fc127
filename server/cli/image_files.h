// Where `streamdit generate` writes its images, in both modes (in-process and against a server):
// FILE for one image, STEM-0.EXT, STEM-1.EXT, ... for a batch.
#pragma once

#include <string>

namespace streamdit::server::cli {

// out.png for one image; out-0.png, out-1.png, ... for `count` > 1.
std::string ImagePath(const std::string& out, int index, int count);

// Writes `bytes` to `path`, creating its folder. Throws INTERNAL naming the path on failure.
void WriteImageFile(const std::string& path, const std::string& bytes);

}  // namespace streamdit::server::cli
