#include "engine/tools/flag_values.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

namespace streamdit::engine {

namespace {

// Runs a std::sto* parser on `text`; the number of characters it read (0 when it threw), so that
// callers can tell a whole number from a prefix ("12abc") or nothing at all.
template <typename T, typename Parser>
std::size_t ParsePrefix(const std::string& text, Parser parse, T* value) {
  std::size_t used = 0;
  try {
    *value = parse(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  return used;
}

template <typename T, typename Parser>
T ParseWhole(const std::string& flag, const std::string& text, Parser parse, const char* what) {
  T value{};
  const std::size_t used = ParsePrefix(text, parse, &value);
  if (used == 0 || used != text.size()) {
    throw std::invalid_argument(flag + " expects " + what + ", got '" + text + "'");
  }
  return value;
}

}  // namespace

int ParseIntFlag(const std::string& flag, const std::string& text) {
  return ParseWhole<int>(
      flag, text, [](const std::string& t, std::size_t* used) { return std::stoi(t, used); },
      "an integer");
}

double ParseDoubleFlag(const std::string& flag, const std::string& text) {
  return ParseWhole<double>(
      flag, text, [](const std::string& t, std::size_t* used) { return std::stod(t, used); },
      "a number");
}

uint64_t ParseUnsignedFlag(const std::string& flag, const std::string& text) {
  // std::stoull accepts "-1" (wrapping it); a seed with a sign is an error.
  if (!text.empty() && text[0] == '-') {
    throw std::invalid_argument(flag + " expects a non-negative integer, got '" + text + "'");
  }
  return ParseWhole<uint64_t>(
      flag, text, [](const std::string& t, std::size_t* used) { return std::stoull(t, used); },
      "a non-negative integer");
}

int64_t ParseByteSize(const std::string& flag, const std::string& text) {
  double value = 0;
  const std::size_t used = ParsePrefix(
      text, [](const std::string& t, std::size_t* n) { return std::stod(t, n); }, &value);
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

}  // namespace streamdit::engine
