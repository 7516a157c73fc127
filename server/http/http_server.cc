#include "server/http/http_server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "server/http/http_errors.h"
#include "server/http/image_generation_routes.h"
#include "server/http/openai_images.h"

namespace streamdit::server {
namespace {

// Splits "host:port" / "[v6]:port"; the brackets are dropped for bind().
bool SplitListen(const std::string& listen, std::string* host, int* port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string name = listen.substr(0, colon);
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  *host = name;
  return absl::SimpleAtoi(listen.substr(colon + 1), port) && *port >= 0 && *port <= 65535;
}

void WriteError(httplib::Response& response, const absl::Status& status, int http_status) {
  response.status = http_status;
  response.set_content(OpenAiErrorBody(status).dump(), "application/json");
}

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(const HttpServerOptions& options) : options_(options) {}

  absl::Status Start() {
    std::string host;
    int port = 0;
    if (!SplitListen(options_.listen, &host, &port)) {
      return absl::InvalidArgumentError("http listen address '" + options_.listen +
                                        "' is not host:port");
    }
    const std::size_t threads = static_cast<std::size_t>(options_.threads);
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_.set_payload_max_length(static_cast<std::size_t>(options_.max_body_bytes));
    // A generation may take minutes: the reply is written when it ends.
    server_.set_write_timeout(std::chrono::seconds(30));
    server_.set_keep_alive_timeout(30);
    // httplib closes a kept-alive connection after 5 requests by default; a client whose next POST
    // crosses that close gets an error it may not retry (POST is not idempotent).
    server_.set_keep_alive_max_count(10000);
    // A reply is written in pieces (headers, then body or events): without TCP_NODELAY, Nagle holds
    // the later piece until the client's delayed ACK of the first (tens of ms per request).
    server_.set_tcp_nodelay(true);
    AddRoutes();
    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& request, httplib::Response& response) {
          return OnHttplibError(request, response);
        }));
    server_.set_exception_handler([this](const httplib::Request& request,
                                         httplib::Response& response, std::exception_ptr thrown) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(thrown);
      } catch (const std::exception& error) {
        what = error.what();
      } catch (...) {
      }
      spdlog::error("HTTP {} {}: {}", request.method, request.path, what);
      const absl::Status status = absl::InternalError("internal error: " + what);
      WriteError(response, status, 500);
      Count(request.method + " " + request.path, status.code());
    });
    port_ =
        port == 0 ? server_.bind_to_any_port(host) : (server_.bind_to_port(host, port) ? port : -1);
    if (port_ <= 0) {
      return absl::UnavailableError("cannot listen for HTTP on " + options_.listen);
    }
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (!thread_.joinable()) return;
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  void SetBackend(GenerationService* service) {
    service_.store(service);
    serving_.store(service != nullptr);
  }
  void SetServing(bool serving) { serving_.store(serving); }

 private:
  using Clock = std::chrono::steady_clock;
  // A route's work. It sets `*streaming` when its answer is a stream that ends later; then it
  // calls the StreamEnded it was given when the stream ends, and the request is counted then.
  using Handler = std::function<absl::Status(GenerationService&, const httplib::Request&,
                                             httplib::Response&, StreamEnded, bool* streaming)>;

  // The route table: every /v1/ route goes through Serve (backend, API key, errors, counting).
  void AddRoutes() {
    Route("POST", "/v1/images/generations",
          [](GenerationService& service, const httplib::Request& request,
             httplib::Response& response, StreamEnded on_stream_end, bool* streaming) {
            return GenerateImages(service, request, response, std::move(on_stream_end), streaming);
          });
    Route("GET", "/v1/models",
          [](GenerationService& service, const httplib::Request&, httplib::Response& response,
             StreamEnded, bool*) {
            response.set_content(ModelsListJson(service.models()).dump(), "application/json");
            return absl::OkStatus();
          });
    server_.Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
      const Clock::time_point arrived = Clock::now();
      response.set_content("{\"status\":\"ok\"}", "application/json");
      Count("GET /healthz", absl::StatusCode::kOk, arrived);
    });
    server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
      const Clock::time_point arrived = Clock::now();
      const bool ready = serving_.load() && service_.load() != nullptr;
      response.status = ready ? 200 : 503;
      response.set_content(ready ? "{\"status\":\"ready\"}" : "{\"status\":\"not ready\"}",
                           "application/json");
      Count("GET /readyz", ready ? absl::StatusCode::kOk : absl::StatusCode::kUnavailable, arrived);
    });
  }

  void Route(const std::string& method, const std::string& path, Handler handler) {
    std::string name = method + " " + path;
    auto serve = [this, name, handler = std::move(handler)](const httplib::Request& request,
                                                            httplib::Response& response) {
      // Taken when the handler starts: httplib has read the headers and the body by then.
      const Clock::time_point arrived = Clock::now();
      bool streaming = false;
      StreamEnded on_stream_end = [this, name, arrived](absl::StatusCode code) {
        Count(name, code, arrived);
      };
      const absl::Status status =
          Serve(handler, request, response, std::move(on_stream_end), &streaming);
      if (!status.ok()) WriteError(response, status, HttpStatusOf(status));
      if (!streaming) Count(name, status.code(), arrived);
    };
    if (method == "GET") {
      server_.Get(path, serve);
    } else {
      server_.Post(path, serve);
    }
    routes_.push_back(name);
  }

  absl::Status Serve(const Handler& handler, const httplib::Request& request,
                     httplib::Response& response, StreamEnded on_stream_end, bool* streaming) {
    if (options_.api_keys != nullptr) {
      absl::Status allowed =
          options_.api_keys->CheckAuthorization(request.get_header_value("Authorization"));
      if (!allowed.ok()) {
        response.set_header("WWW-Authenticate", "Bearer");
        return allowed;
      }
    }
    GenerationService* service = service_.load();
    if (service == nullptr) return absl::UnavailableError("the server is starting: models load");
    return handler(*service, request, response, std::move(on_stream_end), streaming);
  }

  // httplib's own refusals (no route, body over the limit, a request it cannot parse) in the
  // same error shape; replies our handlers wrote already have a body and pass unchanged.
  httplib::Server::HandlerResponse OnHttplibError(const httplib::Request& request,
                                                  httplib::Response& response) {
    if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    absl::Status status;
    if (response.status == 413) {
      status = absl::ResourceExhaustedError("body is larger than the server's limit of " +
                                            std::to_string(options_.max_body_bytes) + " bytes");
    } else if (response.status == 404) {
      status = absl::NotFoundError("no route " + request.method + " " + request.path +
                                   ": the routes are POST /v1/images/generations, GET /v1/models, "
                                   "GET /healthz, GET /readyz");
    } else {
      status = absl::InvalidArgumentError("the HTTP request is malformed (" +
                                          std::to_string(response.status) + ")");
    }
    WriteError(response, status, response.status);
    const std::string name = request.method + " " + request.path;
    bool known = false;
    for (const std::string& route : routes_) known = known || route == name;
    Count(known ? name : "other", status.code());
    return httplib::Server::HandlerResponse::Handled;
  }

  void Count(const std::string& route, absl::StatusCode code,
             Clock::time_point arrived = Clock::now()) {
    if (options_.request_observer == nullptr) return;
    const std::chrono::duration<double> elapsed = Clock::now() - arrived;
    options_.request_observer->OnRequestFinished(Protocol::kHttp, route, code, elapsed.count());
  }

  HttpServerOptions options_;
  httplib::Server server_;
  std::vector<std::string> routes_;
  std::atomic<GenerationService*> service_{nullptr};
  std::atomic<bool> serving_{false};
  std::thread thread_;
  int port_ = -1;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status started = impl->Start(); !started.ok()) return started;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }
void HttpServer::SetBackend(GenerationService* service) { impl_->SetBackend(service); }
void HttpServer::SetServing(bool serving) { impl_->SetServing(serving); }
int HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop() { impl_->Stop(); }

}  // namespace streamdit::server
