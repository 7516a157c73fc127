// GenerateImage and StreamGenerateImage take their requests as raw bytes so that a malformed
// request is answered by us, with INVALID_ARGUMENT and what is wrong (gRPC's generated code
// would refuse it with a bare UNIMPLEMENTED): bytes that are not a GenerateImageRequest, or a
// prompt that is not valid UTF-8 (proto3 strings must be; a client in another language, or a raw
// one, can still send any bytes).
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message_lite.h"
#include "streamdit/v1/image_generation.pb.h"

namespace streamdit::server {

absl::StatusOr<v1::GenerateImageRequest> ParseGenerateRequest(const grpc::ByteBuffer& bytes);
grpc::ByteBuffer ToByteBuffer(const google::protobuf::MessageLite& message);
// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF).
bool IsValidUtf8(const std::string& text);

}  // namespace streamdit::server
