// How every error message in the engine writes a tensor shape: "[1, 16, 128, 128]" ("[]" for a
// scalar), the same text libtorch prints for sizes(), so that messages read alike whether the
// shape came from a checkpoint header or a tensor.
#pragma once

#include <cstdint>
#include <string>

#include "absl/types/span.h"

namespace streamdit::engine {

// Accepts a std::vector<int64_t>, a brace list, or a tensor's sizes() (c10::IntArrayRef).
std::string ShapeString(absl::Span<const int64_t> shape);

}  // namespace streamdit::engine
