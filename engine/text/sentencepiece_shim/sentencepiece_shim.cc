#include "engine/text/sentencepiece_shim/sentencepiece_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

void SetError(char* error, size_t error_len, const std::string& message) {
  if (error == nullptr || error_len == 0) return;
  std::strncpy(error, message.c_str(), error_len - 1);
  error[error_len - 1] = '\0';
}

const sentencepiece::SentencePieceProcessor* Processor(const void* p) {
  return static_cast<const sentencepiece::SentencePieceProcessor*>(p);
}

// Feeds in-memory sentences so that no input path is recorded in the model's TrainerSpec.
class VectorSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentenceIterator(std::vector<std::string> sentences)
      : sentences_(std::move(sentences)) {}
  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> sentences_;
  std::size_t index_ = 0;
};

}  // namespace

extern "C" {

void* streamdit_spm_load(const char* model_bytes, size_t model_len, char* error, size_t error_len) {
  auto* processor = new sentencepiece::SentencePieceProcessor();
  const auto status = processor->LoadFromSerializedProto(std::string(model_bytes, model_len));
  if (!status.ok()) {
    SetError(error, error_len, status.ToString());
    delete processor;
    return nullptr;
  }
  return processor;
}

void streamdit_spm_free(void* processor) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(processor);
}

int streamdit_spm_piece_size(const void* processor) { return Processor(processor)->GetPieceSize(); }
int streamdit_spm_pad_id(const void* processor) { return Processor(processor)->pad_id(); }
int streamdit_spm_eos_id(const void* processor) { return Processor(processor)->eos_id(); }

int streamdit_spm_encode(const void* processor, const char* text, size_t text_len, int* ids,
                         int capacity, char* error, size_t error_len) {
  std::vector<int> out;
  const auto status = Processor(processor)->Encode(std::string(text, text_len), &out);
  if (!status.ok()) {
    SetError(error, error_len, status.ToString());
    return -1;
  }
  for (int i = 0; i < capacity && i < static_cast<int>(out.size()); ++i) ids[i] = out[i];
  return static_cast<int>(out.size());
}

int streamdit_spm_train(const char* const* sentences, const size_t* lengths, size_t count,
                        const char* const* option_keys, const char* const* option_values,
                        size_t option_count, char** model, size_t* model_len, char* error,
                        size_t error_len) {
  std::vector<std::string> corpus;
  corpus.reserve(count);
  for (size_t i = 0; i < count; ++i) corpus.emplace_back(sentences[i], lengths[i]);
  std::unordered_map<std::string, std::string> options;
  for (size_t i = 0; i < option_count; ++i) options[option_keys[i]] = option_values[i];
  VectorSentenceIterator iterator(std::move(corpus));
  std::string serialized;
  // The trainer keeps process-wide state (flags, log level): one training at a time.
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  const auto status = sentencepiece::SentencePieceTrainer::Train(options, &iterator, &serialized);
  if (!status.ok()) {
    SetError(error, error_len, status.ToString());
    return 0;
  }
  *model = static_cast<char*>(std::malloc(serialized.size() ? serialized.size() : 1));
  std::memcpy(*model, serialized.data(), serialized.size());
  *model_len = serialized.size();
  return 1;
}

void streamdit_spm_free_bytes(char* bytes) { std::free(bytes); }

}  // extern "C"
