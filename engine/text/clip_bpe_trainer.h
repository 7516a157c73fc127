// Trains a small CLIP-style byte-level BPE (vocab.json + merges.txt in the HF format) from a text
// corpus, for the demo model and for tests. The layout is the real one's: 256 byte symbols, the
// same 256 with "</w>", one token per merge, then <|startoftext|> and <|endoftext|> as the last two
// ids (so a small vocab's BOS/EOS ids are not 49406/49407).
#pragma once

#include <string>
#include <string_view>

namespace streamdit::engine {

struct ClipBpeFiles {
  std::string vocab_json;  // {"token": id, ...} in id order
  std::string merges_txt;  // "#version: 0.2" then one "left right" line per merge, by rank
  int num_merges = 0;      // may be fewer than asked when the corpus runs out of pairs
};

// Deterministic: the corpus goes through the tokenizer's cleanup and split, each distinct piece
// is weighted by its count; every round merges the most frequent adjacent pair (ties: the
// smallest (left, right) by byte-wise string order), skipping pairs whose merged string already
// is a token so that every token is distinct. Throws StatusError INVALID_ARGUMENT for
// num_merges < 0.
ClipBpeFiles TrainClipBpe(std::string_view corpus, int num_merges);

// Writes `directory`/vocab.json and `directory`/merges.txt (the directory must exist).
void WriteClipBpeFiles(const ClipBpeFiles& files, const std::string& directory);

}  // namespace streamdit::engine
