// The sentencepiece shim (engine/text/sentencepiece_shim/), loaded at first use with dlopen so
// that its embedded protobuf stays isolated from libtorch's (see the shim's header for why).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace streamdit::engine {

class SentencePieceModel {
 public:
  // Throws StatusError DATA_LOSS with sentencepiece's message when the bytes are not a model,
  // FAILED_PRECONDITION when the SentencePiece shim library cannot be loaded.
  static std::unique_ptr<SentencePieceModel> FromSerialized(const std::string& bytes);
  ~SentencePieceModel();
  SentencePieceModel(const SentencePieceModel&) = delete;
  SentencePieceModel& operator=(const SentencePieceModel&) = delete;

  std::vector<int> Encode(std::string_view text) const;
  int piece_size() const;
  int pad_id() const;
  int eos_id() const;

 private:
  explicit SentencePieceModel(void* handle) : handle_(handle) {}
  void* handle_;
};

// Trains a model from in-memory sentences; returns the serialized model.
std::string TrainSentencePiece(const std::vector<std::string>& sentences,
                               const std::unordered_map<std::string, std::string>& options);

}  // namespace streamdit::engine
