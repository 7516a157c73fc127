#include "server/cli/generate_command.h"

#include <memory>

#include "server/cli/flag_values.h"
#include "server/cli/generate_local.h"
#include "server/cli/generate_options.h"
#if STREAMDIT_CLI_SERVICE
#include "server/cli/service/grpc_client.h"
#include "server/cli/service/remote_generate.h"
#endif

namespace streamdit::server::cli {

void AddGenerateCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global) {
  auto options = std::make_shared<GenerateOptions>();
  GenerateOptions& o = *options;
  CLI::App* command = app.add_subcommand(
      "generate",
      "Text to PNG. With --server ADDR, the client of a running `streamdit serve` (queue\n"
      "position and steps on stderr). Otherwise in this process (--local): encode -> denoise ->\n"
      "decode on the configured default model (or --model NAME; the demo model is created if\n"
      "missing) or on the files of --model-dir, one line per step.");
  command->add_option("--prompt", o.prompt, "The text");
  command->add_option("--out", o.out, "Output PNG; a batch writes STEM-0.EXT, STEM-1.EXT, ...")
      ->capture_default_str();
  command->add_option("--model", o.model, "Model name (default: the configured/served default)")
      ->type_name("NAME");
  command->add_option("--seed", o.seed, "Seed of the first image; image i has seed + i")
      ->check(Unsigned());
  command->add_option("--steps", o.steps, "Denoising steps (default: the model's)");
  command->add_option("--width", o.width, "Pixels, a multiple of 16 in [64, 2048]");
  command->add_option("--height", o.height, "Pixels, a multiple of 16 in [64, 2048]");
  command->add_option("--guidance", o.guidance, "Distilled guidance (dev models)");
  command->add_option("--batch", o.batch, "Images of this request (seeds seed, seed+1, ...)")
      ->check(AtLeast(1));
  command
      ->add_option("--lora", o.loras,
                   "A LoRA and its strength (default 1), repeatable: a LoRA file (kohya,\n"
                   "diffusers/PEFT or BFL safetensors) in this process, a LoRA the server\n"
                   "lists (`streamdit models`) with --server")
      ->type_name("NAME[:SCALE]")
      ->check(LoraValue());

  // In-process only.
  std::vector<CLI::Option*> local_only;
  local_only.push_back(
      command->add_flag("--local", o.local, "Generate in this process (the default)"));
  local_only.push_back(
      command
          ->add_option("--model-dir", o.model_dir,
                       "Model folder (default: the configured model's); with --model, that\n"
                       "model's settings apply to this folder's files")
          ->type_name("DIR"));
  o.dtype_option =
      AddDtypeOption(*command, "--dtype", &o.dtype, "Compute dtype (default: the model's)");
  local_only.push_back(o.dtype_option);
  local_only.push_back(
      command
          ->add_option("--device", o.device, "Device to compute on: cpu or cuda:N (default: cpu)")
          ->type_name("cpu|cuda:N"));
  local_only.push_back(
      command->add_option("--threads", o.threads, "libtorch threads (default: libtorch's)")
          ->check(AtLeast(1)));
  o.budget_option = AddByteSizeOption(
      *command, "--budget", &o.budget_bytes,
      "Memory budget of the job (e.g. 2GiB): weights stream through a ring of slots and the\n"
      "measured peak is printed beside the predicted one (see `streamdit plan`)");
  local_only.push_back(o.budget_option);
  local_only.push_back(
      command->add_option("--prefetch", o.prefetch, "Streaming prefetch depth")->check(AtLeast(0)));
  local_only.push_back(
      command->add_option("--storage", o.storage, "Host weight storage: fp8 or bf16")
          ->type_name("fp8|bf16"));

#if STREAMDIT_CLI_SERVICE
  auto client = std::make_shared<ClientOptions>();
  CLI::Option* server = command
                            ->add_option("--server", client->server,
                                         "Generate on the running server at this host:port (gRPC)")
                            ->type_name("ADDR");
  for (CLI::Option* option : local_only) server->excludes(option);
  AddClientOptions(*command, *client, /*with_server=*/false);
  command->add_option("--priority", o.priority, "Scheduling class; a higher class runs first")
      ->check(CLI::IsMember({"low", "normal", "high"}))
      ->capture_default_str();
  command->add_option("--timeout", o.timeout_seconds, "Give up after this many seconds")
      ->type_name("SECONDS")
      ->check(Positive());
  for (const char* name :
       {"--tls-ca", "--tls-cert", "--tls-key", "--tls-server-name", "--priority", "--timeout"}) {
    command->get_option(name)->needs(server);
  }
  table.Add("generate", command, [options, client, &global](std::ostream& out, std::ostream& err) {
    if (!client->server.empty()) {
      RunRemoteGenerate(*options, *client, global, out, err);
    } else {
      RunLocalGenerate(*options, global, out, err);
    }
  });
#else
  table.Add("generate", command, [options, &global](std::ostream& out, std::ostream& err) {
    RunLocalGenerate(*options, global, out, err);
  });
#endif
}

}  // namespace streamdit::server::cli
