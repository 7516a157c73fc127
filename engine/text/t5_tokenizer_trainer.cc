#include "engine/text/t5_tokenizer_trainer.h"

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <unordered_map>

#include "engine/status/file_error.h"
#include "engine/text/sentencepiece_library.h"

namespace streamdit::engine {
std::string TrainT5SentencePiece(const std::vector<std::string>& sentences, int vocab_size) {
  if (vocab_size < 4) {
    throw InvalidArgument("vocab_size must be at least 4 (pad, eos, unk and one piece), got " +
                          std::to_string(vocab_size));
  }
  if (sentences.empty()) {
    throw InvalidArgument("sentences: the training corpus is empty");
  }
  const std::unordered_map<std::string, std::string> options = {
      {"model_type", "unigram"},
      {"vocab_size", std::to_string(vocab_size)},
      // T5 v1.1's special ids (flux-spec.md §5.1).
      {"pad_id", "0"},
      {"eos_id", "1"},
      {"unk_id", "2"},
      {"bos_id", "-1"},
      // Determinism: one thread, every sentence used in corpus order.
      {"num_threads", "1"},
      {"input_sentence_size", "0"},
      {"shuffle_input_sentence", "false"},
      // Keep accented letters of the corpus as pieces rather than <unk>.
      {"character_coverage", "1.0"},
      {"minloglevel", "2"},
  };
  // In-memory sentences: no input path ends up in the model's TrainerSpec (a recorded path would
  // make the bytes depend on where the corpus lives).
  return TrainSentencePiece(sentences, options);
}

void TrainT5SentencePieceFile(const std::string& corpus_path, const std::string& model_path,
                              int vocab_size) {
  std::ifstream in(corpus_path);
  if (!in) throw FileError("cannot open corpus", corpus_path, errno);
  std::vector<std::string> sentences;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) sentences.push_back(line);
  }
  if (in.bad()) throw FileError("cannot read corpus", corpus_path, errno);
  const std::string model = TrainT5SentencePiece(sentences, vocab_size);

  const std::string temporary = model_path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError("cannot create", temporary, errno);
    out.write(model.data(), static_cast<std::streamsize>(model.size()));
    out.flush();
    if (!out) throw FileError("cannot write", temporary, errno);
  }
  if (std::rename(temporary.c_str(), model_path.c_str()) != 0) {
    const auto error = FileError("cannot rename " + temporary + " to", model_path, errno);
    std::remove(temporary.c_str());
    throw error;
  }
}

}  // namespace streamdit::engine
