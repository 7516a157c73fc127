// Trains a small T5-style SentencePiece unigram model (the demo model's `spiece.model`): the same
// special ids as T5 v1.1 (pad 0, eos 1, unk 2, no bos) so that T5Tokenizer and the encoder treat
// it exactly like the real one. Training is deterministic: the same corpus and vocabulary size
// give the same bytes on every run (single thread, no sentence sampling or shuffling, and no file
// names recorded in the model).
#pragma once

#include <string>
#include <vector>

namespace streamdit::engine {

inline constexpr int kDemoT5VocabSize = 1000;

// Returns the serialized model. Throws StatusError INVALID_ARGUMENT naming vocab_size when it is
// below 4 or the corpus is empty, and with SentencePiece's message when training fails (e.g. a
// vocabulary larger than the corpus supports).
std::string TrainT5SentencePiece(const std::vector<std::string>& sentences,
                                 int vocab_size = kDemoT5VocabSize);

// Trains on `corpus_path` (one sentence per line; empty lines skipped) and writes the model to
// `model_path` (temporary file + rename). Throws a FileError (engine/status/file_error.h) naming
// the file on I/O failure.
void TrainT5SentencePieceFile(const std::string& corpus_path, const std::string& model_path,
                              int vocab_size = kDemoT5VocabSize);

}  // namespace streamdit::engine
