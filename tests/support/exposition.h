// Reading Prometheus' text exposition in tests: the value of one series.
#pragma once

#include <string>

namespace streamdit::test_support {

// The value of the series whose line starts with `series` (name{labels} exactly as serialized,
// labels in order), or -1 when there is no such line.
inline double ExposedValue(const std::string& text, const std::string& series) {
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

}  // namespace streamdit::test_support
