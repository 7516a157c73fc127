// POST /v1/images/generations: the request parsed (openai_images.h), submitted to the
// GenerationService, and answered when its job ends: as one JSON reply, or with "stream": true
// as server-sent events (text/event-stream), each `event: NAME` with a JSON `data` line:
//   streamdit.queued    {"type", "position"}             on admission and as the queue moves
//   streamdit.started   {"type", "device", "budget_bytes"}  when its launch starts
//   streamdit.step      {"type", "step", "total_steps", "elapsed_seconds"}
//   image_generation.completed  {"type", "index", "b64_json", "seed", "output_format", "size",
//                       "created_at", "streamdit": {...}}  one per image, the last events
//   error               {"error": {...}}  instead, when the job fails after the stream began
// A client that hangs up (either way of answering) cancels its job: queued, it leaves at once;
// running, it stops at the next step and its memory returns.
#pragma once

#include <httplib.h>

#include <functional>

#include "absl/status/status.h"
#include "server/runtime/generation_service.h"

namespace streamdit::server {

// How an event stream tells its end, once: OK when its last event was written, the job's code
// when it failed after the stream began, CANCELLED when the client hung up first.
using StreamEnded = std::function<void(absl::StatusCode)>;

// OK when the reply (or the event stream) is set on `response`; otherwise the error to answer
// with (nothing was submitted, or the job failed before a byte was written). `*streaming` is set
// when the answer is an event stream: then, and only then, `on_stream_end` is called when it ends
// (the request's time is its stream's).
absl::Status GenerateImages(GenerationService& service, const httplib::Request& request,
                            httplib::Response& response, StreamEnded on_stream_end,
                            bool* streaming);

}  // namespace streamdit::server
