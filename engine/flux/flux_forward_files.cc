#include "engine/flux/flux_forward_files.h"

#include <optional>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/flux/flux_transformer.h"
#include "engine/model/weight_block.h"
#include "engine/status/status_error.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {
namespace {

torch::Tensor ReadInput(const Checkpoint& inputs, const std::string& name, bool required) {
  std::optional<TensorRef> ref = inputs.Find(name);
  if (!ref) {
    if (!required) return {};
    throw InvalidArgument("inputs file " + inputs.description() + " lacks tensor '" + name + "'");
  }
  if (ref->info->dtype != DType::kF32 && ref->info->dtype != DType::kF64) {
    throw InvalidArgument("input tensor '" + name + "' must be F32 or F64, not " +
                          std::string(DTypeName(ref->info->dtype)));
  }
  // Copy out of the mapping and keep full precision for ids and timesteps.
  return ViewTensor(*ref).to(torch::kFloat).clone();
}

}  // namespace

void RunFluxForwardFiles(const FluxForwardFiles& files) {
  const Checkpoint model = Checkpoint::Open(files.model);
  const FluxTransformer transformer = FluxTransformer::Load(model, files.rope);
  const Checkpoint input_file = Checkpoint::Open(files.inputs);
  FluxInputs inputs;
  inputs.img = ReadInput(input_file, "img", true);
  inputs.img_ids = ReadInput(input_file, "img_ids", true);
  inputs.txt = ReadInput(input_file, "txt", true);
  inputs.txt_ids = ReadInput(input_file, "txt_ids", true);
  inputs.timesteps = ReadInput(input_file, "timesteps", true);
  inputs.y = ReadInput(input_file, "y", true);
  inputs.guidance = ReadInput(input_file, "guidance", transformer.config().guidance_embed);

  // A reference run for parity checks against Python: on the CPU, in the files' dtype.
  DirectWeightProvider provider(files.compute, torch::kCPU);
  const torch::Tensor pred = transformer.Forward(inputs, provider, files.compute).to(torch::kFloat);
  SafetensorsWriter writer;
  AddTensor(writer, "pred", pred.contiguous(), DType::kF32);
  writer.Write(files.out);
}

}  // namespace streamdit::engine
