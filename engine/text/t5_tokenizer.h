// The T5 v1.1 tokenizer as FLUX uses it (flux-spec.md §5.1): SentencePiece unigram pieces from
// `spiece.model`, truncated to max_len - 1, then EOS (1), then right-padded with <pad> (0) to
// exactly max_len. No BOS. The sentencepiece headers stay out of this header (they define their
// own `absl::string_view`, which clashes with Abseil in the server's translation units).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace streamdit::engine {

struct T5Encoding {
  std::vector<int64_t> ids;  // exactly max_len ids
  // True when the text had more than max_len - 1 pieces and some were dropped.
  bool truncated = false;
  // Pieces kept plus the EOS, i.e. the index of the first padding id.
  int64_t length = 0;
};

class T5Tokenizer {
 public:
  static constexpr int64_t kPadId = 0;
  static constexpr int64_t kEosId = 1;

  // Loads a serialized SentencePiece model. Throws CheckpointError naming `path`: kIo when the
  // file cannot be read, kUnrecognizedLayout when it is not a SentencePiece model or its special
  // ids differ from T5's (pad 0, eos 1).
  static T5Tokenizer Load(const std::string& path);
  // Same, from the model bytes; `description` names their origin in errors.
  static T5Tokenizer FromSerialized(const std::string& model_bytes, const std::string& description);

  T5Tokenizer(T5Tokenizer&&) noexcept;
  T5Tokenizer& operator=(T5Tokenizer&&) noexcept;
  ~T5Tokenizer();

  // Throws StatusError INVALID_ARGUMENT naming max_len when max_len < 1.
  T5Encoding Encode(std::string_view text, int64_t max_len) const;
  // The raw SentencePiece ids, without EOS, truncation or padding.
  std::vector<int64_t> Pieces(std::string_view text) const;
  // Number of pieces in the model (the ids it can produce are below this).
  int64_t piece_count() const;

 private:
  struct Impl;
  explicit T5Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamdit::engine
