// CLIP's byte-level BPE tokenizer (openai simple_tokenizer / HF CLIPTokenizer semantics,
// flux-spec.md §5.2) read from the HF files vocab.json + merges.txt. Special ids come from the
// vocab, so small demo vocabs (whose <|endoftext|> is not 49407) work the same as the real one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace streamdit::engine {

struct ClipTokenizerOptions {
  int64_t max_length = 77;        // BOS + up to max_length-2 content tokens + EOS, then padding
  std::optional<int64_t> pad_id;  // default: the <|endoftext|> id (openai, SDC)
};

class ClipTokenizer {
 public:
  // Throws CheckpointError naming the file: unreadable, not JSON, a special token or byte symbol
  // missing from the vocab, a malformed merge line, or a merge whose parts or result are absent.
  static ClipTokenizer FromFiles(const std::string& vocab_json_path, const std::string& merges_path,
                                 ClipTokenizerOptions options = {});
  // The same from the files' contents; `source` names them in errors.
  static ClipTokenizer FromStrings(std::string_view vocab_json, std::string_view merges_txt,
                                   ClipTokenizerOptions options = {},
                                   const std::string& source = "<memory>");

  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ~ClipTokenizer();

  // Content ids only (no BOS/EOS, no truncation).
  std::vector<int64_t> Tokenize(std::string_view text) const;
  // The vocab strings of Tokenize's ids (e.g. "hello</w>"), for inspection and tests.
  std::vector<std::string> TokenizeToStrings(std::string_view text) const;
  // Exactly max_length ids: [BOS] + content[:max_length-2] + [EOS] + pad... `truncated` (when not
  // null) tells whether content tokens were dropped, so that the caller can warn.
  std::vector<int64_t> Encode(std::string_view text, bool* truncated = nullptr) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t max_length() const { return max_length_; }
  int64_t vocab_size() const { return static_cast<int64_t>(id_to_token_.size()); }
  const std::string& token(int64_t id) const { return id_to_token_.at(static_cast<size_t>(id)); }

 private:
  struct Merge {
    int64_t rank;
    int64_t result;
  };
  struct WordCache;

  ClipTokenizer();
  // BPE of one split piece, memoised per piece.
  std::vector<int64_t> EncodePiece(const std::string& piece) const;
  std::vector<int64_t> RunBpe(const std::string& piece) const;
  static uint64_t PairKey(int64_t left, int64_t right) {
    return (static_cast<uint64_t>(left) << 32) | static_cast<uint64_t>(right);
  }

  std::vector<std::string> id_to_token_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> rank and merged id
  int64_t byte_ids_[256] = {};                  // symbol of each byte
  int64_t final_byte_ids_[256] = {};            // symbol of each byte + "</w>"
  int64_t bos_id_ = 0;
  int64_t eos_id_ = 0;
  int64_t pad_id_ = 0;
  int64_t max_length_ = 77;
  std::unique_ptr<WordCache> cache_;
};

}  // namespace streamdit::engine
