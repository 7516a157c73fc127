// The HTTP/JSON front end: OpenAI's images API beside the gRPC server, on its own port, over the
// same GenerationService (one scheduler for both protocols). Routes (one table, http_server.cc):
//   POST /v1/images/generations  generate (openai_images.h); "stream": true answers with
//                                server-sent events (image_generation_routes.h)
//   GET  /v1/models              the models in OpenAI's list shape, their LoRAs in "streamdit"
//   GET  /healthz                200 while the process runs (liveness)
//   GET  /readyz                 200 while serving; 503 while the models load and once draining
// Every error is OpenAI's error object with the HTTP status of its absl::Status (http_errors.h).
// With API keys configured the /v1/ routes need `Authorization: Bearer KEY` (401 otherwise); the
// probes stay open. Every answered request is told to the RequestObserver as "METHOD /path".
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/auth/api_keys.h"
#include "server/runtime/generation_service.h"
#include "server/runtime/request_observer.h"

namespace streamdit::server {

struct HttpServerOptions {
  std::string listen = "0.0.0.0:8080";          // host:port; port 0 picks a free port (see port())
  int64_t max_body_bytes = 1 << 20;             // larger request bodies get 413
  int threads = 64;                             // requests served at once (each waits for its job)
  const ApiKeys* api_keys = nullptr;            // null or empty: open; must outlive the server
  RequestObserver* request_observer = nullptr;  // must outlive the server
};

class HttpServer {
 public:
  // Binds and serves at once; until SetBackend, /v1/ routes answer 503 and /readyz 503. An
  // address that cannot be bound is UNAVAILABLE naming it.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options);
  ~HttpServer();  // Stop()

  // Serves `service` (null: none) and marks the server ready (or not).
  void SetBackend(GenerationService* service);
  void SetServing(bool serving);
  int port() const;
  // Stops accepting, waits for the requests being answered, and joins the server's threads.
  // Jobs still running must end first (GenerationService::Drain or CancelAll): a blocked request
  // returns when its job ends.
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamdit::server
