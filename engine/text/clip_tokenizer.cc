#include "engine/text/clip_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/status/status_error.h"
#include "engine/text/clip_pretokenizer.h"

namespace streamdit::engine {
namespace {

constexpr std::size_t kMaxCachedWords = 1 << 16;
// 256 byte symbols, 256 byte symbols + "</w>", then the merges, then the two special tokens.
constexpr int64_t kNonMergeTokens = 512 + 2;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(CheckpointError::Code::kIo, path, "", "cannot open");
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace

struct ClipTokenizer::WordCache {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int64_t>> words;
};

ClipTokenizer::ClipTokenizer() : cache_(std::make_unique<WordCache>()) {}
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;
ClipTokenizer::~ClipTokenizer() = default;

ClipTokenizer ClipTokenizer::FromFiles(const std::string& vocab_json_path,
                                       const std::string& merges_path,
                                       ClipTokenizerOptions options) {
  const std::string vocab = ReadFile(vocab_json_path);
  const std::string merges = ReadFile(merges_path);
  return FromStrings(vocab, merges, options, vocab_json_path + " + " + merges_path);
}

ClipTokenizer ClipTokenizer::FromStrings(std::string_view vocab_json, std::string_view merges_txt,
                                         ClipTokenizerOptions options, const std::string& source) {
  using Code = CheckpointError::Code;
  if (options.max_length < 2) {
    throw InvalidArgument("max_length: must be at least 2 (BOS and EOS), got " +
                          std::to_string(options.max_length));
  }
  ClipTokenizer tokenizer;
  tokenizer.max_length_ = options.max_length;

  nlohmann::json vocab = nlohmann::json::parse(vocab_json, nullptr, /*allow_exceptions=*/false);
  if (!vocab.is_object()) {
    throw CheckpointError(Code::kInvalidJson, source, "vocab.json", "not a JSON object");
  }
  std::unordered_map<std::string, int64_t> token_to_id;
  token_to_id.reserve(vocab.size());
  tokenizer.id_to_token_.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [token, value] : vocab.items()) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<uint64_t>() >= vocab.size() || seen[value.get<uint64_t>()]) {
      // Ids must be exactly 0..size-1 so that they index the embedding rows.
      throw CheckpointError(Code::kInvalidEntry, source, token,
                            "vocab ids must be distinct integers in [0, " +
                                std::to_string(vocab.size()) + "), got " + value.dump());
    }
    const auto id = value.get<int64_t>();
    seen[static_cast<std::size_t>(id)] = true;
    tokenizer.id_to_token_[static_cast<std::size_t>(id)] = token;
    token_to_id.emplace(token, id);
  }
  auto require = [&](const std::string& token) {
    auto it = token_to_id.find(token);
    if (it == token_to_id.end()) {
      throw CheckpointError(Code::kMissingTensor, source, token, "token missing from vocab.json");
    }
    return it->second;
  };
  tokenizer.bos_id_ = require(std::string(kClipStartOfText));
  tokenizer.eos_id_ = require(std::string(kClipEndOfText));
  tokenizer.pad_id_ = options.pad_id.value_or(tokenizer.eos_id_);
  if (tokenizer.pad_id_ < 0 || tokenizer.pad_id_ >= tokenizer.vocab_size()) {
    throw InvalidArgument("pad_id: must be in [0, " + std::to_string(tokenizer.vocab_size()) +
                          "), got " + std::to_string(tokenizer.pad_id_));
  }
  const auto& byte_symbols = ClipByteSymbols();
  for (int b = 0; b < 256; ++b) {
    tokenizer.byte_ids_[b] = require(byte_symbols[b]);
    tokenizer.final_byte_ids_[b] = require(byte_symbols[b] + std::string(kClipEndOfWord));
  }

  // Like openai and HF, use only as many merges as the vocab has merged tokens (openai's merges
  // file is longer than the 48,894 merges its vocab was built from).
  const int64_t usable_merges = std::max<int64_t>(0, tokenizer.vocab_size() - kNonMergeTokens);
  std::size_t line_begin = 0;
  int64_t line_number = 0;
  int64_t rank = 0;
  while (line_begin < merges_txt.size() && rank < usable_merges) {
    std::size_t line_end = merges_txt.find('\n', line_begin);
    if (line_end == std::string_view::npos) line_end = merges_txt.size();
    std::string_view line = merges_txt.substr(line_begin, line_end - line_begin);
    line_begin = line_end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_number == 1 && line.substr(0, 8) == "#version")) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      throw CheckpointError(
          Code::kInvalidEntry, source, std::string(line),
          "merges.txt line " + std::to_string(line_number) + " is not two space-separated symbols");
    }
    const std::string left(line.substr(0, space));
    const std::string right(line.substr(space + 1));
    const int64_t left_id = require(left);
    const int64_t right_id = require(right);
    const int64_t result_id = require(left + right);
    tokenizer.merges_.emplace(PairKey(left_id, right_id), Merge{rank, result_id});
    ++rank;
  }
  return tokenizer;
}

std::vector<int64_t> ClipTokenizer::RunBpe(const std::string& piece) const {
  // The symbols form a linked list over the piece's bytes; candidate merges wait in a heap
  // ordered by (rank, position). All candidates of the lowest rank are applied left to right in
  // one pass before any new candidate is considered, which is exactly openai's loop (merge every
  // occurrence of the best-ranked pair, then look again) in O(n log n) instead of O(n^2).
  const int n = static_cast<int>(piece.size());
  std::vector<int64_t> symbol(static_cast<std::size_t>(n));
  std::vector<int> prev(static_cast<std::size_t>(n));
  std::vector<int> next(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto byte = static_cast<unsigned char>(piece[static_cast<std::size_t>(i)]);
    symbol[i] = i + 1 == n ? final_byte_ids_[byte] : byte_ids_[byte];
    prev[i] = i - 1;
    next[i] = i + 1;
  }
  struct Candidate {
    int64_t rank;
    int left;
    int right;
    int64_t left_symbol;
    int64_t right_symbol;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : left > other.left;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int left) {
    if (left < 0 || next[left] >= n) return;
    const int right = next[left];
    auto it = merges_.find(PairKey(symbol[left], symbol[right]));
    if (it != merges_.end()) {
      heap.push(Candidate{it->second.rank, left, right, symbol[left], symbol[right]});
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);

  std::vector<bool> alive(static_cast<std::size_t>(n), true);
  std::vector<Candidate> batch;
  while (!heap.empty()) {
    const int64_t rank = heap.top().rank;
    batch.clear();
    while (!heap.empty() && heap.top().rank == rank) {
      batch.push_back(heap.top());
      heap.pop();
    }
    std::vector<int> merged_at;
    for (const Candidate& candidate : batch) {
      const int left = candidate.left;
      const int right = candidate.right;
      // A symbol only ever grows, so an unchanged id at both ends means the pair is still there.
      if (!alive[left] || !alive[right] || next[left] != right ||
          symbol[left] != candidate.left_symbol || symbol[right] != candidate.right_symbol) {
        continue;
      }
      symbol[left] = merges_.at(PairKey(candidate.left_symbol, candidate.right_symbol)).result;
      alive[right] = false;
      next[left] = next[right];
      if (next[right] < n) prev[next[right]] = left;
      merged_at.push_back(left);
    }
    for (int left : merged_at) {
      if (!alive[left]) continue;
      consider(prev[left]);
      consider(left);
    }
  }
  std::vector<int64_t> ids;
  for (int i = 0; i < n; i = next[i]) ids.push_back(symbol[i]);
  return ids;
}

std::vector<int64_t> ClipTokenizer::EncodePiece(const std::string& piece) const {
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto it = cache_->words.find(piece);
    if (it != cache_->words.end()) return it->second;
  }
  std::vector<int64_t> ids = RunBpe(piece);
  std::lock_guard<std::mutex> lock(cache_->mutex);
  if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();  // bounded memory
  cache_->words.emplace(piece, ids);
  return ids;
}

std::vector<int64_t> ClipTokenizer::Tokenize(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::string& piece : SplitClipPieces(CleanClipText(text))) {
    // openai's BPE cache is seeded with the two special tokens: written out in a prompt, they
    // become the special ids rather than their characters.
    if (piece == kClipStartOfText) {
      ids.push_back(bos_id_);
    } else if (piece == kClipEndOfText) {
      ids.push_back(eos_id_);
    } else {
      const std::vector<int64_t> word = EncodePiece(piece);
      ids.insert(ids.end(), word.begin(), word.end());
    }
  }
  return ids;
}

std::vector<std::string> ClipTokenizer::TokenizeToStrings(std::string_view text) const {
  std::vector<std::string> tokens;
  for (int64_t id : Tokenize(text)) tokens.push_back(token(id));
  return tokens;
}

std::vector<int64_t> ClipTokenizer::Encode(std::string_view text, bool* truncated) const {
  const std::vector<int64_t> content = Tokenize(text);
  const auto max_content = static_cast<std::size_t>(max_length_ - 2);
  if (truncated != nullptr) *truncated = content.size() > max_content;
  std::vector<int64_t> ids;
  ids.reserve(static_cast<std::size_t>(max_length_));
  ids.push_back(bos_id_);
  ids.insert(ids.end(), content.begin(),
             content.begin() + static_cast<std::ptrdiff_t>(std::min(content.size(), max_content)));
  ids.push_back(eos_id_);
  ids.resize(static_cast<std::size_t>(max_length_), pad_id_);
  return ids;
}

}  // namespace streamdit::engine
