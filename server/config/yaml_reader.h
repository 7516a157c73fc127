// Reading YAML nodes into typed values while recording every problem with where it is: the file,
// the line and column (yaml-cpp's Mark, printed 1-based) and the key path ("models[0].dir").
// Problems are collected rather than thrown, so that one load reports all of them. Internal to
// the configuration loader.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace streamdit::server {

// "a.b", "a[3]"; an empty parent gives the bare key.
std::string JoinPath(std::string_view parent, std::string_view key);
std::string IndexPath(std::string_view parent, size_t index);

// A mapping whose keys were checked (see YamlReader::ReadMap).
class YamlMap {
 public:
  YamlMap(std::string path, YAML::Mark mark) : path_(std::move(path)), mark_(mark) {}

  // The value under `key`; nullopt when the key is absent or its value is empty (null).
  std::optional<YAML::Node> Get(std::string_view key) const;
  const std::string& path() const { return path_; }
  const YAML::Mark& mark() const { return mark_; }
  std::string Child(std::string_view key) const { return JoinPath(path_, key); }
  void Add(std::string key, YAML::Node value) { entries_.emplace_back(std::move(key), value); }

 private:
  std::string path_;
  YAML::Mark mark_;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

class YamlReader {
 public:
  explicit YamlReader(std::string source) : source_(std::move(source)) {}

  // Records "<source>:<line>:<column>: <path>: <message>" (the location when the mark has one).
  void Error(const YAML::Mark& mark, std::string_view path, std::string_view message);
  // Records that `key` of `map` is required and missing, at the map's location.
  void Missing(const YamlMap& map, std::string_view key);

  // `node` as a map with only `allowed` keys: an unknown key (with the allowed ones, and the
  // nearest as a suggestion), a repeated key or a non-scalar key is recorded. A null node is an
  // empty map. nullopt (recorded) when the node is not a map.
  std::optional<YamlMap> ReadMap(const YAML::Node& node, const std::string& path,
                                 const std::vector<std::string_view>& allowed);
  // True when `node` is a sequence; else records what it is instead.
  bool ExpectSequence(const YAML::Node& node, std::string_view path);

  // A scalar's text; `what` names the expected value in the error for a map or sequence.
  std::optional<std::string> Scalar(const YAML::Node& node, std::string_view path,
                                    std::string_view what = "a string");
  // A non-empty string.
  std::optional<std::string> NonEmpty(const YAML::Node& node, std::string_view path);
  std::optional<int64_t> Integer(const YAML::Node& node, std::string_view path, int64_t min,
                                 int64_t max);
  std::optional<double> Number(const YAML::Node& node, std::string_view path, double min,
                               double max);
  std::optional<bool> Bool(const YAML::Node& node, std::string_view path);

  // The scalar passed through one of config_values.h's parsers; its message gets the location.
  template <typename Parse>
  auto Parsed(const YAML::Node& node, std::string_view path, Parse parse, std::string_view what)
      -> std::optional<typename decltype(parse(std::string_view()))::value_type> {
    const std::optional<std::string> text = Scalar(node, path, what);
    if (!text) return std::nullopt;
    auto value = parse(std::string_view(*text));
    if (!value.ok()) {
      Error(node.Mark(), path, std::string(value.status().message()));
      return std::nullopt;
    }
    return *std::move(value);
  }

  bool ok() const { return errors_.empty(); }
  // OK, or INVALID_ARGUMENT listing the problems one a line in file order (the first 20).
  absl::Status Finish() const;

 private:
  struct Problem {
    int line;  // -1 when unknown (sorted first)
    int column;
    std::string message;
  };
  std::string source_;
  std::vector<Problem> errors_;
};

}  // namespace streamdit::server
