#include "server/cli/flux_forward_command.h"

#include <memory>
#include <sstream>

#include "engine/flux/flux_forward_files.h"
#include "engine/status/status_error.h"
#include "server/cli/cli.h"
#include "server/cli/flag_values.h"

namespace streamdit::server::cli {
namespace {

struct FluxForwardOptions {
  engine::FluxForwardFiles files;
  std::string axes_dim;
  std::optional<double> theta;
};

std::vector<int64_t> ParseInts(const std::string& text, const std::string& flag) {
  std::vector<int64_t> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    std::size_t used = 0;
    try {
      values.push_back(std::stoll(item, &used));
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size()) {
      throw engine::InvalidArgument(flag + " expects comma-separated integers, got '" + text + "'");
    }
  }
  return values;
}

}  // namespace

void AddFluxForwardCommand(CLI::App& debug, CommandTable& table) {
  auto options = std::make_shared<FluxForwardOptions>();
  FluxForwardOptions& o = *options;
  CLI::App* command = debug.add_subcommand(
      "flux-forward",
      "One FLUX transformer forward pass. IN holds img [B,L,in], img_ids [B,L,3], txt [B,T,ctx],\n"
      "txt_ids [B,T,3], timesteps [B], y [B,vec] and guidance [B] (models with guidance) as F32\n"
      "or F64; OUT gets pred [B,L,out] F32.");
  command->add_option("--model", o.files.model, "Transformer .safetensors")
      ->type_name("FILE")
      ->required();
  command->add_option("--inputs", o.files.inputs, "Input tensors")
      ->type_name("IN.safetensors")
      ->required();
  command->add_option("--out", o.files.out, "Output file")
      ->type_name("OUT.safetensors")
      ->required();
  AddDtypeOption(*command, "--dtype", &o.files.compute, "Compute dtype")->default_str("f32");
  command->add_option("--axes-dim", o.axes_dim, "RoPE axes (default: the checkpoint's metadata)")
      ->type_name("A,B,C");
  command->add_option("--theta", o.theta, "RoPE theta (default: the checkpoint's metadata)")
      ->type_name("T");
  table.Add("debug flux-forward", command, [options](std::ostream&, std::ostream&) {
    engine::FluxForwardFiles files = options->files;
    if (!options->axes_dim.empty()) {
      files.rope.axes_dim = ParseInts(options->axes_dim, "--axes-dim");
    }
    files.rope.theta = options->theta;
    engine::RunFluxForwardFiles(files);
  });
}

int RunFluxForwardCommand(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err) {
  std::vector<std::string> full = {"debug", "flux-forward"};
  full.insert(full.end(), args.begin(), args.end());
  return RunCli(full, out, err);
}

}  // namespace streamdit::server::cli
