#include "server/config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace streamdit::server {
namespace {

// Edit distance, for "did you mean" on a misspelt key.
size_t Distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    default:
      return "empty";
  }
}

std::string Shown(const std::string& text) {
  constexpr size_t kMax = 64;
  return absl::StrCat("\"", text.substr(0, kMax), text.size() > kMax ? "...\"" : "\"");
}

}  // namespace

std::string JoinPath(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key)
                        : absl::StrCat(std::string(parent), ".", std::string(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(std::string(parent), "[", index, "]");
}

std::optional<YAML::Node> YamlMap::Get(std::string_view key) const {
  for (const auto& [name, value] : entries_) {
    if (name == key) return value.IsNull() ? std::nullopt : std::optional<YAML::Node>(value);
  }
  return std::nullopt;
}

void YamlReader::Error(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  std::string where = source_;
  if (!mark.is_null()) absl::StrAppend(&where, ":", mark.line + 1, ":", mark.column + 1);
  errors_.push_back(Problem{mark.is_null() ? -1 : mark.line, mark.is_null() ? -1 : mark.column,
                            absl::StrCat(where, ": ", std::string(path), path.empty() ? "" : ": ",
                                         std::string(message))});
}

void YamlReader::Missing(const YamlMap& map, std::string_view key) {
  Error(map.mark(), map.Child(key),
        absl::StrCat("required key '", std::string(key), "' is missing",
                     map.path().empty() ? "" : absl::StrCat(" from ", map.path())));
}

std::optional<YamlMap> YamlReader::ReadMap(const YAML::Node& node, const std::string& path,
                                           const std::vector<std::string_view>& allowed) {
  YamlMap map(path, node.Mark());
  if (node.IsNull()) return map;
  if (!node.IsMap()) {
    Error(
        node.Mark(), path,
        absl::StrCat("must be a map of keys (",
                     absl::StrJoin(std::vector<std::string>(allowed.begin(), allowed.end()), ", "),
                     "), got ", KindName(node)));
    return std::nullopt;
  }
  std::vector<std::pair<std::string, YAML::Mark>> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      Error(entry.first.Mark(), path, "a key must be a single word, not a list or map");
      continue;
    }
    const std::string key = entry.first.Scalar();
    const auto previous =
        std::find_if(seen.begin(), seen.end(), [&](const auto& item) { return item.first == key; });
    if (previous != seen.end()) {
      Error(entry.first.Mark(), JoinPath(path, key),
            absl::StrCat("key repeated (first at line ", previous->second.line + 1, ")"));
      continue;
    }
    seen.emplace_back(key, entry.first.Mark());
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string_view nearest;
      size_t nearest_distance = 3;  // suggest only close misspellings
      for (std::string_view name : allowed) {
        if (const size_t distance = Distance(key, name); distance < nearest_distance) {
          nearest = name;
          nearest_distance = distance;
        }
      }
      Error(
          entry.first.Mark(), JoinPath(path, key),
          absl::StrCat(
              "unknown key",
              nearest.empty() ? "" : absl::StrCat(" (did you mean '", std::string(nearest), "'?)"),
              "; allowed ", path.empty() ? "at the top level" : absl::StrCat("in ", path), ": ",
              absl::StrJoin(std::vector<std::string>(allowed.begin(), allowed.end()), ", ")));
      continue;
    }
    map.Add(key, entry.second);
  }
  return map;
}

bool YamlReader::ExpectSequence(const YAML::Node& node, std::string_view path) {
  if (node.IsSequence()) return true;
  Error(node.Mark(), path,
        absl::StrCat("must be a list (lines starting with '- '), got ", KindName(node)));
  return false;
}

std::optional<std::string> YamlReader::Scalar(const YAML::Node& node, std::string_view path,
                                              std::string_view what) {
  if (node.IsScalar()) return node.Scalar();
  Error(node.Mark(), path, absl::StrCat("must be ", std::string(what), ", got ", KindName(node)));
  return std::nullopt;
}

std::optional<std::string> YamlReader::NonEmpty(const YAML::Node& node, std::string_view path) {
  std::optional<std::string> text = Scalar(node, path);
  if (text && text->empty()) {
    Error(node.Mark(), path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<int64_t> YamlReader::Integer(const YAML::Node& node, std::string_view path,
                                           int64_t min, int64_t max) {
  const std::string allowed = max == std::numeric_limits<int64_t>::max()
                                  ? (min == 0 ? std::string("must not be negative")
                                              : absl::StrCat("must be at least ", min))
                                  : absl::StrCat("must be an integer from ", min, " to ", max);
  const std::optional<std::string> text = Scalar(node, path, "an integer");
  if (!text) return std::nullopt;
  int64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [stop, error] = std::from_chars(text->data(), end, value);
  if (text->empty() || error != std::errc() || stop != end) {
    Error(node.Mark(), path,
          absl::StrCat(Shown(*text), " is not an integer",
                       error == std::errc::result_out_of_range ? " in range" : "", "; ", allowed));
    return std::nullopt;
  }
  if (value < min || value > max) {
    Error(node.Mark(), path, absl::StrCat(value, " is out of range; ", allowed));
    return std::nullopt;
  }
  return value;
}

std::optional<double> YamlReader::Number(const YAML::Node& node, std::string_view path, double min,
                                         double max) {
  const std::optional<std::string> text = Scalar(node, path, "a number");
  if (!text) return std::nullopt;
  double value = 0.0;
  const char* end = text->data() + text->size();
  const auto [stop, error] = std::from_chars(text->data(), end, value);
  if (text->empty() || error != std::errc() || stop != end || !std::isfinite(value)) {
    Error(node.Mark(), path, absl::StrCat(Shown(*text), " is not a number"));
    return std::nullopt;
  }
  if (value < min || value > max) {
    Error(node.Mark(), path,
          absl::StrCat(*text, " is out of range; must be from ", min, " to ", max));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> YamlReader::Bool(const YAML::Node& node, std::string_view path) {
  const std::optional<std::string> text = Scalar(node, path, "true or false");
  if (!text) return std::nullopt;
  if (*text == "true" || *text == "True" || *text == "TRUE") return true;
  if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  Error(node.Mark(), path, absl::StrCat(Shown(*text), " is not allowed; must be true or false"));
  return std::nullopt;
}

absl::Status YamlReader::Finish() const {
  if (errors_.empty()) return absl::OkStatus();
  constexpr size_t kShown = 20;
  std::vector<Problem> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  sorted.resize(std::min(sorted.size(), kShown));
  std::string message = absl::StrJoin(
      sorted, "\n", [](std::string* out, const Problem& problem) { out->append(problem.message); });
  if (errors_.size() > kShown) {
    absl::StrAppend(&message, "\n(and ", errors_.size() - kShown, " more)");
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace streamdit::server
