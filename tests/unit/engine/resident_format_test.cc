// A resident copy in the stored format (engine/pipeline/resident_format.h): the matmul weights
// stored in another format than the compute dtype stay as stored on the device and are decoded
// right before each matmul. Checked on the demo model held as fp8 (WeightStorage::kFp8, f32
// compute) and as its bf16 file under f32 compute:
//   - the copy charges the device exactly BytesOf(format), and the stored copy is the smaller;
//   - jobs on either copy give the image of a job without resident weights, bit for bit;
//   - a job on the stored copy decodes one layer at a time: its measured peak beside the copy
//     stays within its predicted peak, which counts the largest decode (DecodeBytesOf).
#include <gtest/gtest.h>

#include <string>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/device_charge.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/pipeline/resident_weights.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::MakeRequest;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

struct Case {
  const char* name;
  WeightStorage storage;
  torch::ScalarType compute;
};

class ResidentFormatTest : public ::testing::TestWithParam<Case> {
 protected:
  PipelineConfig Config(ResidentFormat format) const {
    PipelineConfig config = SmallDemoConfig(SharedDemoModelDir());
    config.prompt_cache_bytes = 0;  // every job encodes: its bytes are its own
    config.weight_storage = GetParam().storage;
    config.compute_dtype = GetParam().compute;
    config.resident_format = format;
    return config;
  }
};

TEST_P(ResidentFormatTest, StoredCopyIsSmallerAndGivesTheSameImages) {
  CpuMemoryMeter::Install();
  const FluxPipeline stored = FluxPipeline::Load(Config(ResidentFormat::kStored));
  const FluxPipeline compute = FluxPipeline::Load(Config(ResidentFormat::kCompute));
  const GenerationRequest request = MakeRequest("a resident lighthouse", 5, 64, 64, 2);
  const GenerationResult reference = stored.Generate(request, ExecutionTarget::Cpu());

  for (const FluxPipeline* pipeline : {&stored, &compute}) {
    const ResidentFormat format = pipeline->config().resident_format;
    SCOPED_TRACE(ResidentFormatName(format));
    MemoryMeter device;
    ScopedDeviceCharge charge(&device);
    JobMemoryOptions memory;
    memory.resident_weights = ResidentWeights::Load(*pipeline, ExecutionTarget::Cpu());
    const int64_t resident = device.current_bytes();
    EXPECT_EQ(resident, memory.resident_weights->bytes());
    EXPECT_EQ(resident, ResidentWeights::BytesOf(*pipeline, torch::kCPU));

    const MemoryMeter::Window window = device.OpenWindow();
    const GenerationResult result = pipeline->Generate(request, ExecutionTarget::Cpu(), {}, memory);
    const int64_t job_peak = window.peak_above_start_bytes();
    EXPECT_TRUE(torch::equal(result.images, reference.images));
    EXPECT_EQ(result.memory.streamed_bytes, 0);
    EXPECT_GE(result.memory.predicted_peak_bytes, job_peak);
    EXPECT_LT(job_peak, resident / 2) << "a job copied the resident weights";
  }

  const JobModels models = stored.models();
  const int64_t stored_bytes =
      ResidentWeights::BytesOf(models, GetParam().compute, torch::kCPU, ResidentFormat::kStored);
  const int64_t compute_bytes =
      ResidentWeights::BytesOf(models, GetParam().compute, torch::kCPU, ResidentFormat::kCompute);
  // The transformer's matmul weights as fp8 codes or bf16, not f32 (the demo's encoders and VAE
  // are f32 files: the same bytes either way).
  EXPECT_LT(stored_bytes, compute_bytes);
  EXPECT_GT(ResidentWeights::DecodeBytesOf(models, GetParam().compute, torch::kCPU,
                                           ResidentFormat::kStored),
            0);
  EXPECT_EQ(ResidentWeights::DecodeBytesOf(models, GetParam().compute, torch::kCPU,
                                           ResidentFormat::kCompute),
            0);
  std::printf("%s: resident copy %lld B stored, %lld B in the compute dtype\n", GetParam().name,
              static_cast<long long>(stored_bytes), static_cast<long long>(compute_bytes));
}

INSTANTIATE_TEST_SUITE_P(Storages, ResidentFormatTest,
                         ::testing::Values(Case{"fp8", WeightStorage::kFp8, torch::kFloat},
                                           Case{"bf16", WeightStorage::kAsStored, torch::kFloat}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace streamdit::engine
