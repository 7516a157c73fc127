// A plain-text table with a header row, columns padded to their widest cell (status, models).
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace streamdit::server::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // Rows below the header.
  std::size_t rows() const { return rows_.size() - 1; }
  // Columns separated by two spaces; no trailing spaces.
  void Print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace streamdit::server::cli
