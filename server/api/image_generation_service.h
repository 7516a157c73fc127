// The ImageGeneration gRPC service on the callback API: no handler ever blocks. A request is
// converted, submitted to the GenerationService, and its reactor finishes from the job's on_done
// callback (on the scheduler's thread); a client cancel or an expired deadline cancels the job
// (queued: it leaves at once; running: it stops at the next step and its memory returns).
#pragma once

#include <atomic>

#include "server/auth/api_keys.h"
#include "server/runtime/generation_service.h"
#include "streamdit/v1/image_generation.grpc.pb.h"

namespace streamdit::server {

// GenerateImage and StreamGenerateImage take raw bytes (wire_messages.h: a malformed request gets
// INVALID_ARGUMENT from us rather than gRPC's bare refusal); the others take typed messages.
using ImageGenerationBase = v1::ImageGeneration::WithRawCallbackMethod_GenerateImage<
    v1::ImageGeneration::WithRawCallbackMethod_StreamGenerateImage<
        v1::ImageGeneration::CallbackService>>;

class ImageGenerationService final : public ImageGenerationBase {
 public:
  // Until a backend is set (while the models load) every call is UNAVAILABLE. With API keys
  // (non-null, not empty; must outlive the service) every method of this service needs the
  // `authorization: Bearer KEY` metadata, else UNAUTHENTICATED; health and reflection stay open.
  explicit ImageGenerationService(const ApiKeys* api_keys = nullptr) : api_keys_(api_keys) {}
  void SetBackend(GenerationService* service) { service_.store(service); }

  grpc::ServerUnaryReactor* GenerateImage(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* StreamGenerateImage(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const v1::ListModelsRequest* request,
                                       v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetServerStatus(grpc::CallbackServerContext* context,
                                            const v1::GetServerStatusRequest* request,
                                            v1::GetServerStatusResponse* response) override;
  // Finishes from the rescan's thread (GenerationService::ReloadLoras).
  grpc::ServerUnaryReactor* ReloadLoras(grpc::CallbackServerContext* context,
                                        const v1::ReloadLorasRequest* request,
                                        v1::ReloadLorasResponse* response) override;

 private:
  const ApiKeys* api_keys_;
  std::atomic<GenerationService*> service_{nullptr};
};

}  // namespace streamdit::server
