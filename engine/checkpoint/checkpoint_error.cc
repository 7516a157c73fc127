#include "engine/checkpoint/checkpoint_error.h"

#include <utility>

namespace streamdit::engine {
namespace {

std::string FormatMessage(CheckpointError::Code code, const std::string& file,
                          const std::string& tensor, const std::string& detail) {
  std::string message = file;
  if (!tensor.empty()) message += ": tensor '" + tensor + "'";
  message += ": " + detail + " [" + CheckpointError::CodeName(code) + "]";
  return message;
}

}  // namespace

CheckpointError::CheckpointError(Code code, std::string file, std::string tensor,
                                 const std::string& detail)
    : StatusError(code == Code::kIo
                      ? absl::NotFoundError(FormatMessage(code, file, tensor, detail))
                      : absl::DataLossError(FormatMessage(code, file, tensor, detail))),
      code_(code),
      file_(std::move(file)),
      tensor_(std::move(tensor)) {}

const char* CheckpointError::CodeName(Code code) {
  switch (code) {
    case Code::kIo:
      return "io";
    case Code::kTruncated:
      return "truncated";
    case Code::kHeaderLengthPastEnd:
      return "header_length_past_end";
    case Code::kHeaderTooLarge:
      return "header_too_large";
    case Code::kInvalidJson:
      return "invalid_json";
    case Code::kInvalidEntry:
      return "invalid_entry";
    case Code::kUnknownDtype:
      return "unknown_dtype";
    case Code::kSpanOutsideData:
      return "span_outside_data";
    case Code::kOverlappingSpans:
      return "overlapping_spans";
    case Code::kSizeMismatch:
      return "size_mismatch";
    case Code::kDuplicateName:
      return "duplicate_name";
    case Code::kMissingTensor:
      return "missing_tensor";
    case Code::kBadShape:
      return "bad_shape";
    case Code::kUnrecognizedLayout:
      return "unrecognized_layout";
  }
  return "unknown";
}

}  // namespace streamdit::engine
