#include "engine/tools/flag_values.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

namespace streamdit {

int ParseIntFlag(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw std::invalid_argument(flag + " expects an integer, got '" + text + "'");
  }
  return value;
}

double ParseDoubleFlag(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw std::invalid_argument(flag + " expects a number, got '" + text + "'");
  }
  return value;
}

uint64_t ParseUnsignedFlag(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  uint64_t value = 0;
  try {
    if (!text.empty() && text[0] != '-') value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw std::invalid_argument(flag + " expects a non-negative integer, got '" + text + "'");
  }
  return value;
}

int64_t ParseByteSize(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = used ? text.substr(used) : "";
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const std::map<std::string, double> kUnits = {{"", 1},
                                                       {"b", 1},
                                                       {"k", 1024.0},
                                                       {"kib", 1024.0},
                                                       {"kb", 1e3},
                                                       {"m", 1048576.0},
                                                       {"mib", 1048576.0},
                                                       {"mb", 1e6},
                                                       {"g", 1073741824.0},
                                                       {"gib", 1073741824.0},
                                                       {"gb", 1e9},
                                                       {"t", 1099511627776.0},
                                                       {"tib", 1099511627776.0},
                                                       {"tb", 1e12}};
  auto found = kUnits.find(unit);
  if (used == 0 || found == kUnits.end() || !(value > 0) || value * found->second > 9e18) {
    throw std::invalid_argument(flag + " expects a positive size such as 24GiB, 16G, 500MB or a " +
                                "byte count, got '" + text + "'");
  }
  return static_cast<int64_t>(std::llround(value * found->second));
}

}  // namespace streamdit
