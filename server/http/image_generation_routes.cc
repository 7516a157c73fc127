#include "server/http/image_generation_routes.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/http/http_errors.h"
#include "server/http/openai_images.h"
#include "server/http/peer_connection.h"

namespace streamdit::server {
namespace {

using nlohmann::json;

// How often a waiting request looks whether its client is still there.
constexpr auto kPeerCheckInterval = std::chrono::milliseconds(100);

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

PeerConnection PeerOf(const httplib::Request& request) {
  return PeerConnection::Find(request.local_addr, request.local_port, request.remote_addr,
                              request.remote_port);
}

// One JSON reply when the job ends.
absl::Status AnswerWhenDone(GenerationService& service, ImagesRequest request,
                            const PeerConnection& peer, httplib::Response& response) {
  struct Outcome {
    std::mutex mu;
    std::condition_variable done;
    std::optional<absl::StatusOr<JobResult>> result;
  };
  auto outcome = std::make_shared<Outcome>();
  JobEvents events;
  events.on_done = [outcome](absl::StatusOr<JobResult> result) {
    std::lock_guard<std::mutex> lock(outcome->mu);
    outcome->result = std::move(result);
    outcome->done.notify_all();
  };
  const absl::StatusOr<scheduler::JobId> id =
      service.Submit(std::move(request.job), std::move(events));
  if (!id.ok()) return id.status();
  std::unique_lock<std::mutex> lock(outcome->mu);
  bool cancelled = false;
  while (!outcome->done.wait_for(lock, kPeerCheckInterval,
                                 [&] { return outcome->result.has_value(); })) {
    if (!cancelled && peer.Closed()) {
      cancelled = true;
      lock.unlock();
      service.Cancel(*id);  // on_done follows with CANCELLED
      lock.lock();
    }
  }
  if (!outcome->result->ok()) return outcome->result->status();
  const JobResult& result = **outcome->result;
  lock.unlock();
  // Encoded here, on the connection's thread, not on the device worker that ran on_done.
  absl::StatusOr<std::vector<std::string>> images = EncodeImages(result, request);
  if (!images.ok()) return images.status();
  response.set_content(
      ImagesResponseJson(result, *images, request.output_format, UnixSeconds()).dump(),
      "application/json");
  return absl::OkStatus();
}

// The events of one streamed request, from the service's threads to the connection's.
struct EventStream {
  std::mutex mu;
  std::condition_variable changed;
  std::deque<std::string> pending;                   // formatted SSE events
  bool finished = false;                             // the last event is in `pending`
  absl::StatusCode outcome = absl::StatusCode::kOk;  // the job's, once it failed
  // The job's result, for the connection's thread to encode and send as the last events.
  std::optional<JobResult> result;

  void Push(const std::string& name, const json& data, bool last = false) {
    std::lock_guard<std::mutex> lock(mu);
    if (finished) return;
    pending.push_back(absl::StrCat("event: ", name, "\ndata: ", data.dump(), "\n\n"));
    finished = last;
    changed.notify_all();
  }
};

JobEvents StreamEvents(const std::shared_ptr<EventStream>& stream) {
  JobEvents events;
  events.on_queued = [stream](int position) {
    stream->Push("streamdit.queued", {{"type", "streamdit.queued"}, {"position", position}});
  };
  events.on_started = [stream](const std::string& device, int64_t budget_bytes) {
    stream->Push(
        "streamdit.started",
        {{"type", "streamdit.started"}, {"device", device}, {"budget_bytes", budget_bytes}});
  };
  events.on_step = [stream](const LaunchProgress& progress) {
    stream->Push("streamdit.step", {{"type", "streamdit.step"},
                                    {"step", progress.step},
                                    {"total_steps", progress.num_steps},
                                    {"elapsed_seconds", progress.elapsed_seconds}});
  };
  events.on_done = [stream](absl::StatusOr<JobResult> result) {
    if (!result.ok()) {
      {
        std::lock_guard<std::mutex> lock(stream->mu);
        stream->outcome = result.status().code();
      }
      stream->Push("error", OpenAiErrorBody(result.status()), /*last=*/true);
      return;
    }
    std::lock_guard<std::mutex> lock(stream->mu);
    stream->result = *std::move(result);
    stream->changed.notify_all();
  };
  return events;
}

// The last events of a stream: one image_generation.completed per image, in the requested
// format (or an error event if a codec fails).
std::deque<std::string> CompletedEvents(const JobResult& result, const ImagesRequest& request) {
  auto event = [](const std::string& name, const json& data) {
    return absl::StrCat("event: ", name, "\ndata: ", data.dump(), "\n\n");
  };
  absl::StatusOr<std::vector<std::string>> images = EncodeImages(result, request);
  if (!images.ok()) return {event("error", OpenAiErrorBody(images.status()))};
  const JobOutput& output = result.output;
  const json stats = GenerationStatsJson(result);
  const int64_t created = UnixSeconds();
  std::deque<std::string> events;
  for (std::size_t i = 0; i < images->size(); ++i) {
    events.push_back(event("image_generation.completed",
                           {{"type", "image_generation.completed"},
                            {"index", i},
                            {"b64_json", absl::Base64Escape((*images)[i])},
                            {"seed", i < output.seeds.size() ? output.seeds[i] : 0},
                            {"output_format", ImageFormatName(request.output_format)},
                            {"size", absl::StrCat(output.width, "x", output.height)},
                            {"created_at", created},
                            {"streamdit", stats}}));
  }
  return events;
}

absl::Status AnswerAsEvents(GenerationService& service, ImagesRequest request,
                            const PeerConnection& peer, httplib::Response& response,
                            StreamEnded on_stream_end) {
  auto stream = std::make_shared<EventStream>();
  const absl::StatusOr<scheduler::JobId> id =
      service.Submit(std::move(request.job), StreamEvents(stream));
  if (!id.ok()) return id.status();
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Accel-Buffering", "no");  // proxies (nginx) must not hold events back
  const scheduler::JobId job_id = *id;
  // Called on the connection's thread until done() or false; each call writes what is pending.
  response.set_chunked_content_provider(
      "text/event-stream",
      [&service, stream, job_id, peer, request = std::move(request)](std::size_t /*offset*/,
                                                                     httplib::DataSink& sink) {
        std::deque<std::string> ready;
        std::optional<JobResult> result;
        bool last = false;
        {
          std::unique_lock<std::mutex> lock(stream->mu);
          stream->changed.wait_for(lock, kPeerCheckInterval, [&] {
            return !stream->pending.empty() || (stream->result && !stream->finished);
          });
          ready.swap(stream->pending);
          if (stream->result && !stream->finished) {
            result = std::move(stream->result);  // after the events before it, in `ready`
            stream->finished = true;
          }
          last = stream->finished;  // then the last event is in `ready` (or was written)
        }
        if (result) {
          std::deque<std::string> completed = CompletedEvents(*result, request);
          ready.insert(ready.end(), completed.begin(), completed.end());
        }
        for (const std::string& event : ready) {
          if (!sink.write(event.data(), event.size())) {
            service.Cancel(job_id);
            return false;
          }
        }
        if (last) {
          sink.done();
          return true;
        }
        if (ready.empty() && peer.Closed()) {
          service.Cancel(job_id);
          return false;
        }
        return true;
      },
      [&service, stream, job_id, on_stream_end = std::move(on_stream_end)](bool success) {
        if (!success) service.Cancel(job_id);  // the connection ended before the last event
        absl::StatusCode code = absl::StatusCode::kCancelled;
        if (success) {
          std::lock_guard<std::mutex> lock(stream->mu);
          code = stream->outcome;
        }
        on_stream_end(code);
      });
  return absl::OkStatus();
}

}  // namespace

absl::Status GenerateImages(GenerationService& service, const httplib::Request& request,
                            httplib::Response& response, StreamEnded on_stream_end,
                            bool* streaming) {
  *streaming = false;
  absl::StatusOr<ImagesRequest> parsed = ParseImagesRequest(request.body, std::nullopt);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->user.empty()) {
    // Escaped: the field is the client's text, and must not forge log lines.
    spdlog::info("HTTP images request from {}:{} for user \"{}\"", request.remote_addr,
                 request.remote_port, absl::CEscape(parsed->user));
  }
  const PeerConnection peer = PeerOf(request);
  if (parsed->stream) {
    absl::Status status =
        AnswerAsEvents(service, *std::move(parsed), peer, response, std::move(on_stream_end));
    *streaming = status.ok();
    return status;
  }
  return AnswerWhenDone(service, *std::move(parsed), peer, response);
}

}  // namespace streamdit::server
