#include "server/cli/service/remote_generate.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iomanip>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "engine/status/status_error.h"
#include "server/cli/flag_values.h"
#include "server/cli/image_files.h"
#include "server/cli/interrupt.h"
#include "server/cli/service/progress_display.h"
#include "server/config/config_values.h"
#include "streamdit/v1/image_generation.grpc.pb.h"

namespace streamdit::server::cli {
namespace {

// 0 asks for the model's default; negative values cannot travel in the request's unsigned fields.
uint32_t NonNegative(const char* field, const std::optional<int>& value) {
  if (!value) return 0;
  if (*value <= 0) {
    throw engine::InvalidArgument(std::string(field) + " must be positive, got " +
                                  std::to_string(*value));
  }
  return static_cast<uint32_t>(*value);
}

v1::GenerateImageRequest BuildRequest(const GenerateOptions& o) {
  v1::GenerateImageRequest request;
  request.set_prompt(o.prompt);
  request.set_model(o.model);
  request.set_width(NonNegative("width", o.width));
  request.set_height(NonNegative("height", o.height));
  request.set_steps(NonNegative("steps", o.steps));
  if (o.guidance) request.set_guidance(static_cast<float>(*o.guidance));
  if (o.seed) request.set_seed(*o.seed);  // 0 (unset): the server draws one and reports it
  request.set_batch_size(NonNegative("batch", o.batch));
  request.set_priority(o.priority == "low"    ? v1::PRIORITY_LOW
                       : o.priority == "high" ? v1::PRIORITY_HIGH
                                              : v1::PRIORITY_NORMAL);
  for (const std::string& text : o.loras) {
    const LoraFlag lora = ParseLoraFlag("--lora", text);
    v1::LoraAdapter* adapter = request.add_loras();
    adapter->set_name(lora.name);
    adapter->set_strength(static_cast<float>(lora.strength));
  }
  return request;
}

// Cancels `context` when Ctrl-C arrives, until destroyed.
class InterruptWatcher {
 public:
  explicit InterruptWatcher(grpc::ClientContext& context)
      : thread_([this, &context] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!done_) {
            if (InterruptRequested()) {
              context.TryCancel();
              return;
            }
            cv_.wait_for(lock, std::chrono::milliseconds(100));
          }
        }) {}
  ~InterruptWatcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

std::string Seconds(double seconds) {
  std::ostringstream text;
  text << std::fixed << std::setprecision(3) << seconds << " s";
  return text.str();
}

void PrintSummary(const v1::GenerationStats& stats, std::ostream& out) {
  out << "device " << stats.device() << ", queued " << Seconds(stats.queue_seconds())
      << ", memory peak " << FormatByteSize(static_cast<int64_t>(stats.memory_peak_bytes()))
      << " / predicted " << FormatByteSize(static_cast<int64_t>(stats.memory_predicted_bytes()))
      << " / budget " << FormatByteSize(static_cast<int64_t>(stats.memory_budget_bytes()))
      << ", encode " << Seconds(stats.encode_seconds()) << ", denoise "
      << Seconds(stats.denoise_seconds()) << ", decode " << Seconds(stats.decode_seconds());
  if (stats.batch_images() > 1) out << " (in a batch of " << stats.batch_images() << " images)";
  out << "\n";
}

}  // namespace

void RunRemoteGenerate(const GenerateOptions& o, const ClientOptions& client,
                       const GlobalOptions& global, std::ostream& out, std::ostream& err) {
  const v1::GenerateImageRequest request = BuildRequest(o);
  std::string address;
  const std::shared_ptr<grpc::Channel> channel = MakeChannel(client, global, &address);
  const std::unique_ptr<v1::ImageGeneration::Stub> stub = v1::ImageGeneration::NewStub(channel);

  grpc::ClientContext context;
  AddApiKey(context);
  if (o.timeout_seconds) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::duration_cast<std::chrono::system_clock::duration>(
                             std::chrono::duration<double>(*o.timeout_seconds)));
  }
  InterruptScope interrupt_scope;
  ProgressDisplay progress(err, ProgressDisplay::IsTerminal(err));
  std::optional<v1::GenerateImageResponse> result;
  grpc::Status status;
  {
    InterruptWatcher watcher(context);
    std::unique_ptr<grpc::ClientReader<v1::StreamGenerateImageResponse>> reader =
        stub->StreamGenerateImage(&context, request);
    v1::StreamGenerateImageResponse event;
    while (reader->Read(&event)) {
      switch (event.event_case()) {
        case v1::StreamGenerateImageResponse::kQueued:
          progress.Queued(static_cast<int>(event.queued().position()));
          break;
        case v1::StreamGenerateImageResponse::kStarted:
          progress.Started(event.started().device(), event.started().memory_budget_bytes());
          break;
        case v1::StreamGenerateImageResponse::kProgress:
          progress.Step(static_cast<int>(event.progress().step()),
                        static_cast<int>(event.progress().total_steps()),
                        event.progress().elapsed_seconds());
          break;
        case v1::StreamGenerateImageResponse::kResult:
          result = std::move(*event.mutable_result());
          break;
        case v1::StreamGenerateImageResponse::EVENT_NOT_SET:
          break;
      }
    }
    status = reader->Finish();
  }
  progress.Finish();
  if (status.error_code() == grpc::StatusCode::CANCELLED && InterruptRequested()) {
    throw engine::StatusError(absl::CancelledError("interrupted; the server stops the job"));
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && o.timeout_seconds) {
    std::ostringstream message;
    message << "no image within --timeout " << *o.timeout_seconds
            << " s (the server stops the job): " << status.error_message();
    throw engine::StatusError(absl::DeadlineExceededError(message.str()));
  }
  ThrowIfFailed(status, address);
  if (!result) throw engine::Internal("server " + address + " ended the stream without an image");

  const int count = result->images_size();
  for (int i = 0; i < count; ++i) {
    const v1::Image& image = result->images(i);
    const std::string path = ImagePath(o.out, i, count);
    WriteImageFile(path, image.png());
    out << "wrote " << path << " (" << image.width() << "x" << image.height() << ", seed "
        << image.seed() << (o.model.empty() ? "" : ", model " + o.model) << ")\n";
  }
  PrintSummary(result->stats(), out);
}

}  // namespace streamdit::server::cli
