#include "server/api/request_counting.h"

#include <chrono>
#include <string>

namespace streamdit::server {
namespace {

// "/streamdit.v1.ImageGeneration/GenerateImage" -> "GenerateImage".
std::string ShortMethodName(const char* method) {
  const std::string full = method ? method : "";
  const std::size_t slash = full.rfind('/');
  return slash == std::string::npos ? full : full.substr(slash + 1);
}

class RequestCountingInterceptor final : public grpc::experimental::Interceptor {
 public:
  RequestCountingInterceptor(grpc::experimental::ServerRpcInfo* info, RequestObserver* observer)
      : method_(ShortMethodName(info->method())),
        observer_(observer),
        arrived_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      // gRPC's codes are absl's, number for number.
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - arrived_;
      observer_->OnRequestFinished(
          Protocol::kGrpc, method_,
          static_cast<absl::StatusCode>(methods->GetSendStatus().error_code()), elapsed.count());
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  RequestObserver* observer_;
  // The interceptor is made when the call arrives; PRE_SEND_STATUS comes with its last byte.
  std::chrono::steady_clock::time_point arrived_;
};

class RequestCountingFactoryImpl final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RequestCountingFactoryImpl(RequestObserver* observer) : observer_(observer) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RequestCountingInterceptor(info, observer_);
  }

 private:
  RequestObserver* observer_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RequestCountingFactory(
    RequestObserver* observer) {
  return std::make_unique<RequestCountingFactoryImpl>(observer);
}

}  // namespace streamdit::server
