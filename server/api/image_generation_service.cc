#include "server/api/image_generation_service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "server/api/grpc_status.h"
#include "server/api/request_conversion.h"
#include "server/api/wire_messages.h"

namespace streamdit::server {
namespace {

// The call's deadline on the steady clock (none when the client set none).
std::optional<std::chrono::steady_clock::time_point> SteadyDeadline(
    const grpc::CallbackServerContext& context) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  const auto remaining = deadline - std::chrono::system_clock::now();
  if (remaining > std::chrono::hours(24 * 365)) return std::nullopt;
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(remaining);
}

// The call's request bytes as a job, its deadline included.
absl::StatusOr<GenerationJob> JobFromCall(const grpc::CallbackServerContext& context,
                                          const grpc::ByteBuffer& request) {
  absl::StatusOr<v1::GenerateImageRequest> parsed = ParseGenerateRequest(request);
  if (!parsed.ok()) return parsed.status();
  return JobFromProto(*parsed, SteadyDeadline(context));
}

// GenerateImage: finishes when the job ends; a client cancel cancels the job.
class GenerateReactor final : public grpc::ServerUnaryReactor {
 public:
  GenerateReactor(GenerationService& service, grpc::CallbackServerContext* context,
                  const grpc::ByteBuffer* request, grpc::ByteBuffer* response)
      : service_(service) {
    absl::StatusOr<GenerationJob> job = JobFromCall(*context, *request);
    if (!job.ok()) {
      Finish(ToGrpcStatus(job.status()));
      return;
    }
    JobEvents events;
    events.on_done = [this, response](absl::StatusOr<JobResult> result) {
      if (result.ok()) {
        v1::GenerateImageResponse message;
        ResponseFromResult(*result, &message);
        *response = ToByteBuffer(message);
        Finish(grpc::Status::OK);
      } else {
        Finish(ToGrpcStatus(result.status()));
      }
    };
    // Submitted with the lock held so that OnCancel, which may run at once, sees the id.
    std::lock_guard<std::mutex> lock(mu_);
    absl::StatusOr<scheduler::JobId> id = service_.Submit(*std::move(job), std::move(events));
    if (!id.ok()) {
      Finish(ToGrpcStatus(id.status()));
      return;
    }
    id_ = *id;
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (id_) service_.Cancel(*id_);  // on_done then finishes the call with CANCELLED
  }
  void OnDone() override { delete this; }

 private:
  GenerationService& service_;
  std::mutex mu_;
  std::optional<scheduler::JobId> id_;
};

// StreamGenerateImage: queue position, start, per-step progress, then the result. Events come
// from other threads; they are queued and written one at a time (gRPC allows one write in
// flight). The shared state outlives the reactor, so that a late progress event of a cancelled
// job finds it gone rather than a freed reactor.
class StreamReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  StreamReactor(GenerationService& service, grpc::CallbackServerContext* context,
                const grpc::ByteBuffer* request)
      : service_(service), state_(std::make_shared<State>()) {
    state_->reactor = this;
    absl::StatusOr<GenerationJob> job = JobFromCall(*context, *request);
    if (!job.ok()) {
      Finish(ToGrpcStatus(job.status()));
      return;
    }
    std::shared_ptr<State> state = state_;
    JobEvents events;
    events.on_queued = [state](int position) {
      v1::StreamGenerateImageResponse event;
      event.mutable_queued()->set_position(static_cast<uint32_t>(position));
      Push(state, std::move(event));
    };
    events.on_started = [state](const std::string& device, int64_t budget_bytes) {
      v1::StreamGenerateImageResponse event;
      v1::JobStarted* started = event.mutable_started();
      started->set_device(device);
      started->set_memory_budget_bytes(static_cast<uint64_t>(budget_bytes));
      Push(state, std::move(event));
    };
    events.on_step = [state](const LaunchProgress& progress) {
      v1::StreamGenerateImageResponse event;
      v1::StepProgress* step = event.mutable_progress();
      step->set_step(static_cast<uint32_t>(progress.step));
      step->set_total_steps(static_cast<uint32_t>(progress.num_steps));
      step->set_elapsed_seconds(progress.elapsed_seconds);
      Push(state, std::move(event));
    };
    events.on_done = [state](absl::StatusOr<JobResult> result) {
      if (result.ok()) {
        v1::StreamGenerateImageResponse event;
        ResponseFromResult(*result, event.mutable_result());
        Push(state, std::move(event), grpc::Status::OK);
      } else {
        Push(state, std::nullopt, ToGrpcStatus(result.status()));
      }
    };
    // Not under the state's lock: on_queued runs inside Submit and pushes an event.
    absl::StatusOr<scheduler::JobId> id = service_.Submit(*std::move(job), std::move(events));
    bool cancel_now = false;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!id.ok()) {
        state_->finishing = true;
        Finish(ToGrpcStatus(id.status()));
        return;
      }
      state_->id = *id;
      cancel_now = state_->cancel_requested;
    }
    if (cancel_now) service_.Cancel(*id);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->writing = false;
    if (!ok) {
      // The client is gone: nothing more can be written; OnCancel cancels the job.
      state_->pending.clear();
      return;
    }
    WriteNextLocked(*state_);
  }

  void OnCancel() override {
    std::optional<scheduler::JobId> id;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      id = state_->id;
      state_->cancel_requested = true;  // for a cancel that beats Submit's return
    }
    if (id) service_.Cancel(*id);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->reactor = nullptr;
    }
    delete this;
  }

 private:
  struct State {
    std::mutex mu;
    StreamReactor* reactor = nullptr;  // null once the call is done
    std::optional<scheduler::JobId> id;
    std::deque<grpc::ByteBuffer> pending;
    grpc::ByteBuffer in_flight;
    bool writing = false;
    std::optional<grpc::Status> final_status;  // finish once the pending events are written
    bool finishing = false;
    bool cancel_requested = false;
  };

  static void Push(const std::shared_ptr<State>& state,
                   std::optional<v1::StreamGenerateImageResponse> event,
                   std::optional<grpc::Status> finish = std::nullopt) {
    std::lock_guard<std::mutex> lock(state->mu);
    if (!state->reactor || state->finishing || state->final_status) return;
    if (event) state->pending.push_back(ToByteBuffer(*event));
    if (finish) state->final_status = std::move(finish);
    if (!state->writing) state->reactor->WriteNextLocked(*state);
  }

  void WriteNextLocked(State& state) {
    if (state.finishing) return;
    if (!state.pending.empty()) {
      state.in_flight = std::move(state.pending.front());
      state.pending.pop_front();
      state.writing = true;
      StartWrite(&state.in_flight);
      return;
    }
    if (state.final_status) {
      state.finishing = true;
      Finish(*state.final_status);
    }
  }

  GenerationService& service_;
  std::shared_ptr<State> state_;
};

const grpc::Status& Loading() {
  static const grpc::Status status(grpc::StatusCode::UNAVAILABLE,
                                   "the server is loading its models; retry shortly");
  return status;
}

grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context,
                                 const grpc::Status& status = Loading()) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

class RefusedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedStream(const grpc::Status& status = Loading()) { Finish(status); }
  void OnDone() override { delete this; }
};

// The call's `authorization` metadata checked against the keys (OK when none are configured).
grpc::Status Authorize(const ApiKeys* keys, const grpc::CallbackServerContext& context) {
  if (keys == nullptr || !keys->enabled()) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  const std::string_view value = found == metadata.end()
                                     ? std::string_view()
                                     : std::string_view(found->second.data(), found->second.size());
  return ToGrpcStatus(keys->CheckAuthorization(value));
}

}  // namespace

grpc::ServerUnaryReactor* ImageGenerationService::GenerateImage(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (const grpc::Status allowed = Authorize(api_keys_, *context); !allowed.ok()) {
    return Refuse(context, allowed);
  }
  GenerationService* service = service_.load();
  if (!service) return Refuse(context);
  return new GenerateReactor(*service, context, request, response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* ImageGenerationService::StreamGenerateImage(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  if (const grpc::Status allowed = Authorize(api_keys_, *context); !allowed.ok()) {
    return new RefusedStream(allowed);
  }
  GenerationService* service = service_.load();
  if (!service) return new RefusedStream();
  return new StreamReactor(*service, context, request);
}

grpc::ServerUnaryReactor* ImageGenerationService::ListModels(
    grpc::CallbackServerContext* context, const v1::ListModelsRequest* /*request*/,
    v1::ListModelsResponse* response) {
  if (const grpc::Status allowed = Authorize(api_keys_, *context); !allowed.ok()) {
    return Refuse(context, allowed);
  }
  GenerationService* service = service_.load();
  if (!service) return Refuse(context);
  ModelsToProto(service->models(), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ImageGenerationService::GetServerStatus(
    grpc::CallbackServerContext* context, const v1::GetServerStatusRequest* /*request*/,
    v1::GetServerStatusResponse* response) {
  if (const grpc::Status allowed = Authorize(api_keys_, *context); !allowed.ok()) {
    return Refuse(context, allowed);
  }
  GenerationService* service = service_.load();
  if (!service) return Refuse(context);
  StatusToProto(service->Status(), response);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* ImageGenerationService::ReloadLoras(
    grpc::CallbackServerContext* context, const v1::ReloadLorasRequest* /*request*/,
    v1::ReloadLorasResponse* response) {
  if (const grpc::Status allowed = Authorize(api_keys_, *context); !allowed.ok()) {
    return Refuse(context, allowed);
  }
  GenerationService* service = service_.load();
  if (!service) return Refuse(context);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  service->ReloadLoras([reactor, response](const LoraScanReport& report) {
    response->set_loras(static_cast<uint32_t>(report.loras));
    response->set_added(static_cast<uint32_t>(report.added));
    response->set_removed(static_cast<uint32_t>(report.removed));
    response->set_reloaded(static_cast<uint32_t>(report.reloaded));
    for (const std::string& error : report.errors) response->add_errors(error);
    reactor->Finish(grpc::Status::OK);
  });
  return reactor;
}

}  // namespace streamdit::server
