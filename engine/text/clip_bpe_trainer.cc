#include "engine/text/clip_bpe_trainer.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/status/status_error.h"
#include "engine/text/clip_pretokenizer.h"

namespace streamdit::engine {
namespace {

struct Word {
  std::vector<int> symbols;
  int64_t count = 0;
};

struct PairHash {
  std::size_t operator()(const std::pair<int, int>& pair) const {
    return std::hash<uint64_t>()((static_cast<uint64_t>(pair.first) << 32) |
                                 static_cast<uint32_t>(pair.second));
  }
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) throw CheckpointError(CheckpointError::Code::kIo, path, "", "cannot write");
}

}  // namespace

ClipBpeFiles TrainClipBpe(std::string_view corpus, int num_merges) {
  if (num_merges < 0) {
    throw InvalidArgument("num_merges: must be >= 0, got " + std::to_string(num_merges));
  }
  // Base symbols in vocab order: the 256 byte symbols, then the same with "</w>".
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int> token_ids;
  auto add_token = [&](const std::string& token) {
    token_ids.emplace(token, static_cast<int>(tokens.size()));
    tokens.push_back(token);
  };
  const auto& byte_symbols = ClipByteSymbols();
  for (unsigned char byte : ClipByteOrder()) add_token(byte_symbols[byte]);
  for (unsigned char byte : ClipByteOrder()) {
    add_token(byte_symbols[byte] + std::string(kClipEndOfWord));
  }

  // Distinct pieces in a sorted map so that the word order (and thus everything) is deterministic.
  std::map<std::string, int64_t> piece_counts;
  for (const std::string& piece : SplitClipPieces(CleanClipText(corpus))) {
    if (piece == kClipStartOfText || piece == kClipEndOfText) continue;
    ++piece_counts[piece];
  }
  std::vector<Word> words;
  words.reserve(piece_counts.size());
  for (const auto& [piece, count] : piece_counts) {
    Word word;
    word.count = count;
    for (std::size_t i = 0; i < piece.size(); ++i) {
      std::string symbol = byte_symbols[static_cast<unsigned char>(piece[i])];
      if (i + 1 == piece.size()) symbol += kClipEndOfWord;
      word.symbols.push_back(token_ids.at(symbol));
    }
    words.push_back(std::move(word));
  }

  std::string merges_txt = "#version: 0.2\n";
  int merges_done = 0;
  std::unordered_map<std::pair<int, int>, int64_t, PairHash> pair_counts;
  while (merges_done < num_merges) {
    pair_counts.clear();
    for (const Word& word : words) {
      for (std::size_t i = 0; i + 1 < word.symbols.size(); ++i) {
        pair_counts[{word.symbols[i], word.symbols[i + 1]}] += word.count;
      }
    }
    const std::pair<int, int>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [pair, count] : pair_counts) {
      if (count < best_count) continue;
      if (best != nullptr && count == best_count) {
        const auto& candidate = std::tie(tokens[pair.first], tokens[pair.second]);
        if (candidate >= std::tie(tokens[best->first], tokens[best->second])) continue;
      }
      if (token_ids.count(tokens[pair.first] + tokens[pair.second]) != 0) continue;
      best = &pair;
      best_count = count;
    }
    if (best == nullptr) break;  // every word is a single symbol (or only duplicates remain)

    const std::pair<int, int> merge = *best;
    const int merged = static_cast<int>(tokens.size());
    merges_txt += tokens[merge.first] + " " + tokens[merge.second] + "\n";
    add_token(tokens[merge.first] + tokens[merge.second]);
    ++merges_done;
    for (Word& word : words) {
      std::vector<int> symbols;
      symbols.reserve(word.symbols.size());
      for (std::size_t i = 0; i < word.symbols.size(); ++i) {
        if (i + 1 < word.symbols.size() && word.symbols[i] == merge.first &&
            word.symbols[i + 1] == merge.second) {
          symbols.push_back(merged);
          ++i;
        } else {
          symbols.push_back(word.symbols[i]);
        }
      }
      word.symbols = std::move(symbols);
    }
  }
  add_token(std::string(kClipStartOfText));
  add_token(std::string(kClipEndOfText));

  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (std::size_t id = 0; id < tokens.size(); ++id) vocab[tokens[id]] = id;
  ClipBpeFiles files;
  files.vocab_json = vocab.dump(/*indent=*/1, ' ', /*ensure_ascii=*/false) + "\n";
  files.merges_txt = std::move(merges_txt);
  files.num_merges = merges_done;
  return files;
}

void WriteClipBpeFiles(const ClipBpeFiles& files, const std::string& directory) {
  WriteText(directory + "/vocab.json", files.vocab_json);
  WriteText(directory + "/merges.txt", files.merges_txt);
}

}  // namespace streamdit::engine
