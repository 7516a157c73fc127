#include "engine/checkpoint/shape_string.h"

namespace streamdit::engine {

std::string ShapeString(absl::Span<const int64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

}  // namespace streamdit::engine
