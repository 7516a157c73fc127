// A `streamdit serve` in the test process: Serve (server/serve/serve.h) on a thread over a
// configuration written for the shared demo model at a test size (64x64, 2 steps), on a free
// loopback port. The CLI's client commands then run against it through RunCli.
#pragma once

#if STREAMDIT_CLI_SERVICE

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <thread>

#include "cli_test_support.h"
#include "server/config/config_loader.h"
#include "server/serve/serve.h"

namespace streamdit::server::cli::testing {

// The demo model as one configured model; `extra` is appended to the model's entry.
inline std::string DemoConfigYaml(const std::string& model_dir, const std::string& extra = "") {
  return "listen: 127.0.0.1:0\n"
         "grace_period: 5s\n"
         "log_level: warn\n"
         "devices:\n"
         "  - name: cpu:0\n"
         "    budget: 4GiB\n"
         "models:\n"
         "  - name: flux1-demo\n"
         "    family: dev\n"
         "    dir: " +
         model_dir +
         "\n"
         "    defaults: {steps: 2, width: 64, height: 64, t5_max_length: 32}\n" +
         extra;
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class InProcessServer {
 public:
  explicit InProcessServer(const std::string& yaml) {
    absl::StatusOr<ServerConfig> config = ParseServerConfig(yaml, "test.yaml", "");
    if (!config.ok()) throw std::runtime_error(config.status().ToString());
    std::future<int> serving = port_promise_.get_future();
    thread_ = std::thread([this, config = *std::move(config)] {
      bool served = false;
      ServeHooks hooks;
      hooks.on_serving = [this, &served](const ServingPorts& ports) {
        served = true;
        http_port_ = ports.http;
        port_promise_.set_value(ports.grpc);
      };
      hooks.stop_requested = [this] { return stop_.load(); };
      result_ = Serve(config, hooks);
      if (!served) port_promise_.set_value(-1);
    });
    if (serving.wait_for(std::chrono::minutes(5)) != std::future_status::ready ||
        (port_ = serving.get()) <= 0) {
      stop_ = true;
      thread_.join();
      throw std::runtime_error("the server did not start: " + result_.ToString());
    }
  }
  ~InProcessServer() { (void)Stop(); }

  // Drains and returns what Serve returned.
  absl::Status Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int http_port() const { return http_port_; }  // 0 when the config has no http section

 private:
  std::atomic<bool> stop_{false};
  std::promise<int> port_promise_;
  absl::Status result_;
  int port_ = 0;
  int http_port_ = 0;  // written before the promise is set, read after it is
  std::thread thread_;
};

}  // namespace streamdit::server::cli::testing

#endif  // STREAMDIT_CLI_SERVICE
