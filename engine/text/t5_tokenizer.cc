#include "engine/text/t5_tokenizer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/status/status_error.h"
#include "engine/text/sentencepiece_library.h"

namespace streamdit::engine {

struct T5Tokenizer::Impl {
  std::unique_ptr<SentencePieceModel> processor;
};

T5Tokenizer::T5Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
T5Tokenizer::T5Tokenizer(T5Tokenizer&&) noexcept = default;
T5Tokenizer& T5Tokenizer::operator=(T5Tokenizer&&) noexcept = default;
T5Tokenizer::~T5Tokenizer() = default;

T5Tokenizer T5Tokenizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw CheckpointError(CheckpointError::Code::kIo, path, "",
                          std::string("cannot open SentencePiece model: ") + std::strerror(errno));
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) {
    throw CheckpointError(CheckpointError::Code::kIo, path, "", "cannot read SentencePiece model");
  }
  return FromSerialized(bytes.str(), path);
}

T5Tokenizer T5Tokenizer::FromSerialized(const std::string& model_bytes,
                                        const std::string& description) {
  auto impl = std::make_unique<Impl>();
  // An empty string parses as an empty (valid) protobuf; reject it explicitly so that the message
  // says what is wrong rather than "model is not initialized" at the first Encode.
  if (model_bytes.empty()) {
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, description, "",
                          "empty file is not a SentencePiece model");
  }
  try {
    impl->processor = SentencePieceModel::FromSerialized(model_bytes);
  } catch (const StatusError& e) {
    // DATA_LOSS: SentencePiece rejected the bytes. Anything else (the library cannot be loaded)
    // is not this file's fault and keeps its own code.
    if (e.code() != absl::StatusCode::kDataLoss) throw;
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, description, "",
                          std::string("not a valid SentencePiece model: ") + e.what());
  }
  // FLUX's encoding hard-codes T5's ids (padding 0, EOS 1); a model with other special ids would
  // produce sequences the text encoder was never trained on.
  const auto& sp = *impl->processor;
  if (sp.pad_id() != kPadId || sp.eos_id() != kEosId) {
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, description, "",
                          "SentencePiece model has pad id " + std::to_string(sp.pad_id()) +
                              " and eos id " + std::to_string(sp.eos_id()) +
                              "; T5 needs pad 0 and eos 1");
  }
  return T5Tokenizer(std::move(impl));
}

std::vector<int64_t> T5Tokenizer::Pieces(std::string_view text) const {
  const std::vector<int> ids = impl_->processor->Encode(text);
  return std::vector<int64_t>(ids.begin(), ids.end());
}

T5Encoding T5Tokenizer::Encode(std::string_view text, int64_t max_len) const {
  if (max_len < 1) {
    throw InvalidArgument("max_len must be at least 1 (room for EOS), got " +
                          std::to_string(max_len));
  }
  T5Encoding encoding;
  encoding.ids = Pieces(text);
  const auto kept = static_cast<std::size_t>(max_len - 1);
  if (encoding.ids.size() > kept) {
    encoding.ids.resize(kept);
    encoding.truncated = true;
  }
  encoding.ids.push_back(kEosId);
  encoding.length = static_cast<int64_t>(encoding.ids.size());
  encoding.ids.resize(static_cast<std::size_t>(max_len), kPadId);
  return encoding;
}

int64_t T5Tokenizer::piece_count() const { return impl_->processor->piece_size(); }

}  // namespace streamdit::engine
