// A client of the standard grpc.health.v1 service. Debian ships no health.proto, so the two tiny
// messages are encoded by their wire format through a generic stub: HealthCheckRequest
// {string service = 1} and HealthCheckResponse {ServingStatus status = 1} (UNKNOWN = 0,
// SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3).
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

namespace streamdit::server::testing {

enum class HealthStatus {
  kUnknown = 0,
  kServing = 1,
  kNotServing = 2,
  kServiceUnknown = 3,
  kError
};

inline HealthStatus Health(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& service = "") {
  grpc::GenericStub stub(channel);
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes.push_back('\x0a');
    request_bytes.push_back(static_cast<char>(service.size()));  // short names only
    request_bytes += service;
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = std::move(s);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (!status.ok()) return HealthStatus::kError;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return HealthStatus::kError;
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  if (bytes.empty()) return HealthStatus::kUnknown;  // proto3 default: status 0
  if (bytes.size() != 2 || bytes[0] != '\x08') return HealthStatus::kError;
  return static_cast<HealthStatus>(bytes[1]);
}

}  // namespace streamdit::server::testing
