// The flags of `streamdit generate`, shared by its two modes: in-process (generate_local.h) and
// the client of a running server (service/remote_generate.h). generate_command.cc declares them.
#pragma once

#include <torch/types.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace streamdit::server::cli {

struct GenerateOptions {
  // Both modes.
  std::string prompt;
  std::string out = "out.png";
  std::string model;  // a configured model's name (local) or a served one (remote); empty: default
  std::optional<uint64_t> seed;
  std::optional<int> steps, width, height, batch;
  std::optional<double> guidance;
  // --lora NAME[:SCALE], repeatable: a LoRA file (local) or a served LoRA's name (--server).
  std::vector<std::string> loras;

  // In-process (--local, the default without --server).
  bool local = false;
  std::string model_dir;
  torch::ScalarType dtype = torch::kFloat;
  CLI::Option* dtype_option = nullptr;
  std::optional<int> threads;
  std::string device = "cpu";  // --device: cpu or cuda:N
  int64_t budget_bytes = 0;
  CLI::Option* budget_option = nullptr;
  std::optional<int> prefetch;
  std::string storage;

  // Against a server (--server; its address and TLS flags: service/grpc_client.h).
  std::string priority = "normal";  // low, normal or high
  std::optional<double> timeout_seconds;
};

}  // namespace streamdit::server::cli
