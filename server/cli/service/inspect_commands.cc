#include "server/cli/service/inspect_commands.h"

#include <chrono>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>

#include "server/cli/service/grpc_client.h"
#include "server/cli/service/text_table.h"
#include "server/config/config_values.h"
#include "streamdit/v1/image_generation.grpc.pb.h"

namespace streamdit::server::cli {
namespace {

struct InspectOptions {
  ClientOptions client;
  double timeout_seconds = 10;
};

std::string Bytes(uint64_t bytes) { return FormatByteSize(static_cast<int64_t>(bytes)); }

void SetDeadline(grpc::ClientContext& context, double seconds) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(seconds)));
}

void RunStatus(const InspectOptions& o, const GlobalOptions& global, std::ostream& out) {
  std::string address;
  const auto stub = v1::ImageGeneration::NewStub(MakeChannel(o.client, global, &address));
  grpc::ClientContext context;
  AddApiKey(context);
  SetDeadline(context, o.timeout_seconds);
  v1::GetServerStatusResponse status;
  ThrowIfFailed(stub->GetServerStatus(&context, v1::GetServerStatusRequest(), &status), address);

  out << "server " << address << ": " << (status.draining() ? "draining" : "serving") << ", "
      << status.queue_depth() << " queued";
  static const char* const kClasses[] = {"low", "normal", "high"};
  if (status.queue_depth_by_priority_size() > 0) {
    out << " (";
    for (int i = 0; i < status.queue_depth_by_priority_size(); ++i) {
      out << (i ? ", " : "") << (i < 3 ? kClasses[i] : "class " + std::to_string(i)) << " "
          << status.queue_depth_by_priority(i);
    }
    out << ")";
  }
  out << "\n";
  TextTable table({"DEVICE", "HEALTHY", "BUDGET", "RESERVED", "USED", "PEAK", "RESIDENT", "RUNNING",
                   "RESIDENT MODELS", "CACHED LORAS"});
  for (const v1::DeviceStatus& device : status.devices()) {
    std::string models;
    for (const std::string& model : device.resident_models()) {
      models += (models.empty() ? "" : ",") + model;
    }
    std::string loras;
    for (const v1::CachedLora& lora : device.cached_loras()) {
      loras += (loras.empty() ? "" : ",") + lora.name();
    }
    if (!loras.empty()) loras += " (" + Bytes(device.adapter_bytes()) + ")";
    table.Add({device.name(), device.healthy() ? "yes" : "NO", Bytes(device.budget_bytes()),
               Bytes(device.reserved_bytes()), Bytes(device.used_bytes()),
               Bytes(device.peak_bytes()), Bytes(device.resident_bytes()),
               std::to_string(device.running_launches()), models.empty() ? "-" : models,
               loras.empty() ? "-" : loras});
  }
  table.Print(out);
}

void RunModels(const InspectOptions& o, const GlobalOptions& global, std::ostream& out) {
  std::string address;
  const auto stub = v1::ImageGeneration::NewStub(MakeChannel(o.client, global, &address));
  grpc::ClientContext context;
  AddApiKey(context);
  SetDeadline(context, o.timeout_seconds);
  v1::ListModelsResponse models;
  ThrowIfFailed(stub->ListModels(&context, v1::ListModelsRequest(), &models), address);

  TextTable table(
      {"MODEL", "FAMILY", "DEFAULT SIZE", "STEPS", "GUIDANCE", "WEIGHTS", "MINIMUM BUDGET"});
  // WEIGHTS: a resident copy's bytes, held "stored" (decoded a layer at a time) or "compute".
  for (const v1::ModelInfo& model : models.models()) {
    std::ostringstream guidance;
    guidance << model.default_guidance();
    table.Add({model.name(), model.family(),
               std::to_string(model.default_width()) + "x" + std::to_string(model.default_height()),
               std::to_string(model.default_steps()),
               model.default_guidance() > 0 ? guidance.str() : "-",
               Bytes(model.weight_bytes()) + " (" + model.resident_format() + ")",
               Bytes(model.min_budget_bytes())});
  }
  table.Print(out);
  out << "(the first model is the default; the minimum budget is at the default size)\n";

  // The LoRAs requests may name (generate --lora NAME:SCALE), per model.
  TextTable loras({"MODEL", "LORA", "FORMAT", "RANK", "LAYERS", "BYTES", "TARGETS"});
  std::vector<std::string> errors;
  for (const v1::ModelInfo& model : models.models()) {
    for (const v1::LoraInfo& lora : model.loras()) {
      if (!lora.error().empty()) {
        errors.push_back(model.name() + " / " + lora.name() + ": " + lora.error());
        continue;
      }
      std::string targets;
      for (const std::string& target : lora.targets()) {
        targets += (targets.empty() ? "" : ",") + target;
      }
      loras.Add({model.name(), lora.name(), lora.format(), std::to_string(lora.rank()),
                 std::to_string(lora.layers()), Bytes(lora.bytes()), targets});
    }
  }
  if (loras.rows() > 0) {
    out << "\n";
    loras.Print(out);
  }
  for (const std::string& error : errors) out << "unusable LoRA " << error << "\n";
}

CLI::App* AddInspectCommand(CLI::App& app, const char* name, const char* description,
                            InspectOptions& options) {
  CLI::App* command = app.add_subcommand(name, description);
  AddClientOptions(*command, options.client);
  command->add_option("--timeout", options.timeout_seconds, "Seconds to wait for the answer")
      ->capture_default_str();
  return command;
}

}  // namespace

void AddStatusCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* command = AddInspectCommand(
      app, "status",
      "A running server's devices (budget, reserved, used and peak bytes, resident models,\n"
      "running launches, health), its queue per priority and whether it drains. Exits 1 while\n"
      "the server is unreachable or still loading its models.",
      *options);
  table.Add("status", command, [options, &global](std::ostream& out, std::ostream&) {
    RunStatus(*options, global, out);
  });
}

void AddModelsCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* command = AddInspectCommand(
      app, "models", "The models a running server serves, with their defaults and sizes.",
      *options);
  table.Add("models", command, [options, &global](std::ostream& out, std::ostream&) {
    RunModels(*options, global, out);
  });
}

}  // namespace streamdit::server::cli
