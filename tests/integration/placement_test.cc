// The VRAM-aware part for real, on two `cpu` devices with their own budgets: large jobs go only
// where they fit, the model's weights stay on the device they were loaded to (affinity), and an
// underestimated job is retried by the scheduler's out-of-memory path and succeeds without its
// measured peak ever crossing the budget it ran under.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/server_test_rig.h"

namespace streamdit::server::testing {
namespace {

scheduler::MemoryDemand Demand(int size) {
  absl::StatusOr<std::unique_ptr<ModelRegistry>> models = ModelRegistry::Load({DemoModel()});
  EngineMemoryEstimator estimator(**models);
  scheduler::JobShape shape;
  shape.model = "flux1-demo";
  shape.width = size;
  shape.height = size;
  shape.steps = 2;
  shape.batch = 1;
  absl::StatusOr<scheduler::MemoryDemand> demand = estimator.Estimate(shape);
  EXPECT_TRUE(demand.ok()) << demand.status();
  return *demand;
}

v1::GenerateImageRequest Request(int size, uint64_t seed) {
  v1::GenerateImageRequest request;
  request.set_prompt("placement");
  request.set_width(size);
  request.set_height(size);
  request.set_seed(seed);
  return request;
}

TEST(Placement, LargeJobsRunOnlyWhereTheyFit) {
  const scheduler::MemoryDemand large = Demand(256);
  const scheduler::MemoryDemand small = Demand(64);
  ASSERT_GT(large.minimum(), small.useful_maximum());
  RigOptions options;
  // cpu:0 holds a large job with every weight resident; cpu:1 only small ones.
  options.devices = {{"cpu:0", large.useful_maximum() + (64ll << 20)},
                     {"cpu:1", (small.useful_maximum() + large.minimum()) / 2}};
  ServerRig rig(options);

  constexpr int kLarge = 3;
  std::vector<v1::GenerateImageResponse> responses(kLarge + 3);
  std::vector<grpc::Status> statuses(kLarge + 3);
  std::vector<std::thread> clients;
  for (int i = 0; i < kLarge + 3; ++i) {
    clients.emplace_back([&, i] {
      statuses[i] = rig.Generate(Request(i < kLarge ? 256 : 64, 1 + i), &responses[i]);
    });
  }
  for (auto& client : clients) client.join();
  for (int i = 0; i < kLarge + 3; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    const v1::GenerationStats& stats = responses[i].stats();
    if (i < kLarge) {
      EXPECT_EQ(stats.device(), "cpu:0") << "large job " << i;
    }
    EXPECT_LE(stats.memory_peak_bytes(), stats.memory_budget_bytes()) << i;
  }

  grpc::ClientContext context;
  v1::GetServerStatusResponse status;
  ASSERT_TRUE(rig.stub().GetServerStatus(&context, {}, &status).ok());
  ASSERT_EQ(status.devices_size(), 2);
  EXPECT_LE(status.devices(0).peak_bytes(), status.devices(0).budget_bytes());
  EXPECT_LE(status.devices(1).peak_bytes(), status.devices(1).budget_bytes());
  EXPECT_GT(status.devices(0).peak_bytes(), 0u);
}

TEST(Placement, TheModelStaysResidentWhereItWasLoaded) {
  const scheduler::MemoryDemand demand = Demand(64);
  RigOptions options;
  options.devices = {{"cpu:0", demand.useful_maximum() * 3},
                     {"cpu:1", demand.useful_maximum() * 3}};
  ServerRig rig(options);
  v1::GenerateImageResponse first;
  ASSERT_TRUE(rig.Generate(Request(64, 1), &first).ok());
  grpc::ClientContext context;
  v1::GetServerStatusResponse status;
  ASSERT_TRUE(rig.stub().GetServerStatus(&context, {}, &status).ok());
  int holder = -1;
  for (int d = 0; d < status.devices_size(); ++d) {
    if (status.devices(d).resident_models_size() > 0) {
      EXPECT_EQ(status.devices(d).resident_models(0), "flux1-demo");
      holder = d;
    }
  }
  ASSERT_GE(holder, 0) << "no device holds the model after a job";
  // The next jobs go where the weights already are.
  for (int i = 0; i < 3; ++i) {
    v1::GenerateImageResponse next;
    ASSERT_TRUE(rig.Generate(Request(64, 2 + i), &next).ok());
    EXPECT_EQ(next.stats().device(), status.devices(holder).name());
  }
}

TEST(Placement, AJobThatFitsNoDeviceIsRefusedWithWhatItNeeds) {
  const scheduler::MemoryDemand demand = Demand(64);
  RigOptions options;
  options.devices = {{"cpu:0", demand.minimum() / 2}};
  ServerRig rig(options);
  v1::GenerateImageResponse response;
  const grpc::Status status = rig.Generate(Request(64, 1), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("the job needs at least"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("largest healthy device budget"), std::string::npos)
      << status.error_message();
}

// An estimator that claims half of what a job needs.
class Underestimate final : public scheduler::MemoryEstimator {
 public:
  explicit Underestimate(const ModelRegistry& models) : real_(models) {}
  absl::StatusOr<scheduler::MemoryDemand> Estimate(
      const scheduler::JobShape& shape) const override {
    absl::StatusOr<scheduler::MemoryDemand> demand = real_.Estimate(shape);
    if (demand.ok()) demand->working_bytes /= 2;
    return demand;
  }

 private:
  EngineMemoryEstimator real_;
};

TEST(Placement, AnUnderestimatedJobIsRetriedAndSucceedsUnderItsBudget) {
  absl::StatusOr<std::unique_ptr<ModelRegistry>> models = ModelRegistry::Load({DemoModel()});
  ASSERT_TRUE(models.ok());
  const scheduler::MemoryDemand demand = Demand(64);
  ServiceSettings settings;
  // Room for the job streamed, not for its weights: every launch is a streamed one.
  settings.devices = {{"cpu:0", demand.minimum() + demand.weight_bytes / 4}};
  settings.scheduler.max_oom_retries = 8;
  GenerationService service(
      **models, settings, std::make_unique<Underestimate>(**models),
      std::make_unique<EngineLaunchRunner>(**models, *ExecutionTargetsOf(settings.devices)));
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<JobResult>> outcome;
  GenerationJob job;
  job.request.seed = 9;
  JobEvents events;
  events.on_done = [&](absl::StatusOr<JobResult> result) {
    std::lock_guard<std::mutex> lock(mu);
    outcome = std::move(result);
    cv.notify_one();
  };
  ASSERT_TRUE(service.Submit(job, events).ok());
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  ASSERT_TRUE(outcome->ok()) << outcome->status();
  const JobResult& result = **outcome;
  EXPECT_GE(result.budget_bytes, demand.minimum());  // grown past the underestimate
  EXPECT_LE(result.peak_bytes, result.budget_bytes);
  EXPECT_GT(result.peak_bytes, 0);
}

}  // namespace
}  // namespace streamdit::server::testing
