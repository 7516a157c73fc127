#include "engine/tools/flux_forward_command.h"

#include <map>
#include <sstream>
#include <stdexcept>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/flux/flux_transformer.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {
namespace {

constexpr char kUsage[] =
    "usage: streamdit debug flux-forward --model FILE --inputs IN.safetensors --out "
    "OUT.safetensors [--dtype f32|bf16] [--axes-dim A,B,C] [--theta T]\n"
    "  IN holds img [B,L,in], img_ids [B,L,3], txt [B,T,ctx], txt_ids [B,T,3], timesteps [B],\n"
    "  y [B,vec] and guidance [B] (models with guidance) as F32 or F64; OUT gets pred [B,L,out] "
    "F32.\n";

std::vector<int64_t> ParseInts(const std::string& text, const std::string& flag) {
  std::vector<int64_t> values;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    try {
      std::size_t used = 0;
      values.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw std::invalid_argument(flag + " expects comma-separated integers, got '" + text + "'");
    }
  }
  return values;
}

torch::Tensor ReadInput(const Checkpoint& inputs, const std::string& name, bool required) {
  std::optional<TensorRef> ref = inputs.Find(name);
  if (!ref) {
    if (!required) return {};
    throw std::invalid_argument("inputs file " + inputs.description() + " lacks tensor '" + name +
                                "'");
  }
  if (ref->info->dtype != DType::kF32 && ref->info->dtype != DType::kF64) {
    throw std::invalid_argument("input tensor '" + name + "' must be F32 or F64, not " +
                                std::string(DTypeName(ref->info->dtype)));
  }
  // Copy out of the mapping and keep full precision for ids and timesteps.
  return ViewTensor(*ref).to(torch::kFloat).clone();
}

}  // namespace

int RunFluxForwardCommand(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err) {
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return 0;
    }
    if (args[i].rfind("--", 0) != 0 || i + 1 >= args.size()) {
      err << "flux-forward: unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
    flags[args[i]] = args[i + 1];
    ++i;
  }
  for (const char* required : {"--model", "--inputs", "--out"}) {
    if (!flags.count(required)) {
      err << "flux-forward: missing " << required << "\n" << kUsage;
      return 2;
    }
  }
  for (const auto& [flag, value] : flags) {
    if (flag != "--model" && flag != "--inputs" && flag != "--out" && flag != "--dtype" &&
        flag != "--axes-dim" && flag != "--theta") {
      err << "flux-forward: unknown flag " << flag << "\n" << kUsage;
      return 2;
    }
  }
  try {
    torch::ScalarType compute = torch::kFloat;
    if (flags.count("--dtype")) {
      const std::string& dtype = flags["--dtype"];
      if (dtype == "bf16") {
        compute = torch::kBFloat16;
      } else if (dtype != "f32") {
        throw std::invalid_argument("--dtype must be f32 or bf16, got '" + dtype + "'");
      }
    }
    RopeOverrides overrides;
    if (flags.count("--axes-dim"))
      overrides.axes_dim = ParseInts(flags["--axes-dim"], "--axes-dim");
    if (flags.count("--theta")) {
      try {
        overrides.theta = std::stod(flags["--theta"]);
      } catch (const std::exception&) {
        throw std::invalid_argument("--theta expects a number, got '" + flags["--theta"] + "'");
      }
    }
    const Checkpoint model = Checkpoint::Open(flags["--model"]);
    const FluxTransformer transformer = FluxTransformer::Load(model, overrides);
    const Checkpoint input_file = Checkpoint::Open(flags["--inputs"]);
    FluxInputs inputs;
    inputs.img = ReadInput(input_file, "img", true);
    inputs.img_ids = ReadInput(input_file, "img_ids", true);
    inputs.txt = ReadInput(input_file, "txt", true);
    inputs.txt_ids = ReadInput(input_file, "txt_ids", true);
    inputs.timesteps = ReadInput(input_file, "timesteps", true);
    inputs.y = ReadInput(input_file, "y", true);
    inputs.guidance = ReadInput(input_file, "guidance", transformer.config().guidance_embed);

    DirectWeightProvider provider(compute);
    torch::Tensor pred = transformer.Forward(inputs, provider, compute).to(torch::kFloat);
    SafetensorsWriter writer;
    AddTensor(writer, "pred", pred.contiguous(), DType::kF32);
    writer.Write(flags["--out"]);
    return 0;
  } catch (const CheckpointError& e) {
    err << "flux-forward: " << e.what() << "\n";
    return 1;
  } catch (const std::invalid_argument& e) {
    err << "flux-forward: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace streamdit::engine
