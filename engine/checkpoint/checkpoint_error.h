// The one error type for unreadable or malformed model files. Each failure mode has its own code so
// that tests (and callers mapping to user-facing errors) can tell them apart; the message always
// names the file and, where one is involved, the tensor.
#pragma once

#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {

// A StatusError: NOT_FOUND for kIo (the file is missing or cannot be read), DATA_LOSS for every
// other code (the file is there but is not a model file this engine can use).
class CheckpointError : public StatusError {
 public:
  enum class Code {
    kIo,                   // cannot open / stat / map the file
    kTruncated,            // shorter than the 8-byte header length
    kHeaderLengthPastEnd,  // header length points past the end of the file
    kHeaderTooLarge,       // header length over the 100 MB limit
    kInvalidJson,          // header is not a JSON object
    kInvalidEntry,         // a tensor entry lacks dtype/shape/data_offsets or has wrong types
    kUnknownDtype,         // dtype string not in DType
    kSpanOutsideData,      // data_offsets outside the data section, or begin > end
    kOverlappingSpans,     // two tensors share bytes
    kSizeMismatch,         // shape x element size != byte span
    kDuplicateName,        // the same tensor name twice in the header
    kMissingTensor,        // a loader needed a tensor the checkpoint lacks
    kBadShape,             // a loader found a tensor with an unexpected shape
    kUnrecognizedLayout,   // no known model layout matches the keys
  };

  CheckpointError(Code code, std::string file, std::string tensor, const std::string& detail);

  Code code() const { return code_; }
  const std::string& file() const { return file_; }
  const std::string& tensor() const { return tensor_; }

  static const char* CodeName(Code code);

 private:
  Code code_;
  std::string file_;
  std::string tensor_;
};

}  // namespace streamdit::engine
