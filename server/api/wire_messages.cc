#include "server/api/wire_messages.h"

#include <google/protobuf/unknown_field_set.h>

#include <vector>

namespace streamdit::server {

bool IsValidUtf8(const std::string& text) {
  static constexpr uint32_t kMinimum[] = {0, 0x80, 0x800, 0x10000};
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int extra = 0;
    uint32_t code = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      extra = 1;
      code = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      extra = 2;
      code = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      extra = 3;
      code = byte & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(extra) >= n) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < kMinimum[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

absl::StatusOr<v1::GenerateImageRequest> ParseGenerateRequest(const grpc::ByteBuffer& bytes) {
  std::vector<grpc::Slice> slices;
  std::string wire;
  if (bytes.Valid() && bytes.Dump(&slices).ok()) {
    for (const grpc::Slice& slice : slices) {
      wire.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
  }
  v1::GenerateImageRequest request;
  if (request.ParseFromString(wire)) return request;
  // Well-formed wire data that does not parse has a string field that is not UTF-8.
  google::protobuf::UnknownFieldSet fields;
  if (fields.ParseFromString(wire)) {
    for (int i = 0; i < fields.field_count(); ++i) {
      const google::protobuf::UnknownField& field = fields.field(i);
      if (field.number() == v1::GenerateImageRequest::kPromptFieldNumber &&
          field.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED &&
          !IsValidUtf8(field.length_delimited())) {
        return absl::InvalidArgumentError("prompt must be valid UTF-8");
      }
    }
    return absl::InvalidArgumentError(
        "request: a string field (model or a LoRA name) is not valid UTF-8, or a field has the "
        "wrong wire type");
  }
  return absl::InvalidArgumentError("request: not a streamdit.v1.GenerateImageRequest (" +
                                    std::to_string(wire.size()) + " bytes of malformed protobuf)");
}

grpc::ByteBuffer ToByteBuffer(const google::protobuf::MessageLite& message) {
  const std::string wire = message.SerializeAsString();
  grpc::Slice slice(wire);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace streamdit::server
