// The thread-safe front: submits and cancels from many threads while the dispatcher runs and an
// executor completes launches on its own thread. Built and run under ThreadSanitizer by
// scripts/sanitize-scheduler. No timing is involved: every wait is for an event.

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "scheduler/scheduler.h"
#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::TestModels;

// Completes launches on a worker thread, in random order, and keeps its own books of every
// device's memory (loads, evictions, launch budgets) to catch a scheduler that overcommits.
class ThreadedExecutor final : public Executor {
 public:
  explicit ThreadedExecutor(std::vector<std::int64_t> budgets) : budgets_(std::move(budgets)) {
    resident_.resize(budgets_.size());
    running_bytes_.resize(budgets_.size());
  }
  ~ThreadedExecutor() override { Quit(); }

  void Attach(Scheduler* scheduler) {
    scheduler_ = scheduler;
    worker_ = std::thread([this] { Run(); });
  }

  void Start(const Launch& launch) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, std::int64_t>& resident = resident_[launch.device];
    for (const std::string& model : launch.evict) resident.erase(model);
    if (launch.mode == WeightMode::kLoad) resident[launch.shape.model] = launch.model_bytes;
    running_bytes_[launch.device] += launch.budget_bytes;
    std::int64_t used = running_bytes_[launch.device];
    for (const auto& [model, bytes] : resident) used += bytes;
    if (used > budgets_[launch.device]) ++violations_;
    pending_.push_back(launch);
    ++launches_;
    wake_.notify_all();
  }

  void Stop(LaunchId id) override {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_.insert(id);
  }

  // Stops completing launches (those still pending stay unfinished).
  void Quit() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      quit_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  int violations() {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }
  int launches() {
    std::lock_guard<std::mutex> lock(mu_);
    return launches_;
  }

 private:
  void Run() {
    std::mt19937 rng(7);
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      wake_.wait(lock, [this] { return quit_ || !pending_.empty(); });
      if (quit_) return;
      std::size_t pick = std::uniform_int_distribution<std::size_t>(0, pending_.size() - 1)(rng);
      Launch launch = pending_[pick];
      pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(pick));
      running_bytes_[launch.device] -= launch.budget_bytes;  // before the scheduler reuses it
      LaunchResult result;
      result.id = launch.id;
      result.outcome =
          stopped_.count(launch.id) ? LaunchOutcome::kStopped : LaunchOutcome::kSucceeded;
      result.working_peak_bytes = launch.predicted_working_bytes;
      lock.unlock();
      scheduler_->OnLaunchFinished(result);
      lock.lock();
    }
  }

  std::vector<std::int64_t> budgets_;
  std::vector<std::map<std::string, std::int64_t>> resident_;
  std::vector<std::int64_t> running_bytes_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Launch> pending_;
  std::set<LaunchId> stopped_;
  Scheduler* scheduler_ = nullptr;
  std::thread worker_;
  bool quit_ = false;
  int violations_ = 0;
  int launches_ = 0;
};

// Counts callbacks per job.
class Endings {
 public:
  JobCallback Callback() {
    return [this](JobId id, const absl::Status& status) {
      std::lock_guard<std::mutex> lock(mu_);
      ++count_[id];
      codes_[status.code()]++;
    };
  }
  std::map<JobId, int> counts() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::map<absl::StatusCode, int> codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }

 private:
  std::mutex mu_;
  std::map<JobId, int> count_;
  std::map<absl::StatusCode, int> codes_;
};

JobRequest RandomRequest(std::mt19937& rng) {
  static const char* kModels[] = {"big", "medium", "small"};
  JobRequest request =
      Request(kModels[rng() % 3], 1 + static_cast<int>(rng() % 20), 1 + static_cast<int>(rng() % 3),
              static_cast<Priority>(rng() % kPriorityClasses));
  if (rng() % 4 == 0) request.shape.loras.push_back("a");
  return request;
}

TEST(ThreadedSchedulerTest, ManyThreadsSubmitAndCancelWhileTheDispatcherRuns) {
  const std::vector<std::int64_t> budgets{24 * kGB, 48 * kGB, 16 * kGB};
  LinearMemoryEstimator estimator(TestModels());
  SteadyClock clock;
  ThreadedExecutor executor(budgets);
  SchedulerConfig config;
  config.queue_capacity_per_priority = 64;
  Endings endings;
  std::atomic<int> accepted{0}, refused{0}, cancels_known{0};
  std::mutex accepted_mu;
  std::set<JobId> accepted_ids;
  {
    Scheduler scheduler(config, testing_rig::Rig::Devices(budgets), estimator, executor, clock);
    executor.Attach(&scheduler);
    std::vector<std::thread> clients;
    for (int t = 0; t < 8; ++t) {
      clients.emplace_back([&, t] {
        std::mt19937 rng(static_cast<unsigned>(100 + t));
        std::vector<JobId> mine;
        for (int i = 0; i < 150; ++i) {
          JobId id = 0;
          absl::Status status = scheduler.Submit(RandomRequest(rng), endings.Callback(), &id);
          if (!status.ok()) {
            EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status.ToString();
            ++refused;
            continue;
          }
          ++accepted;
          {
            std::lock_guard<std::mutex> lock(accepted_mu);
            accepted_ids.insert(id);
          }
          mine.push_back(id);
          if (rng() % 3 == 0) {
            if (scheduler.Cancel(mine[rng() % mine.size()])) ++cancels_known;
          }
        }
      });
    }
    for (std::thread& client : clients) client.join();
    scheduler.Drain();
    JobId id = 0;
    EXPECT_EQ(scheduler.Submit(Request("small"), endings.Callback(), &id).code(),
              absl::StatusCode::kUnavailable);
    scheduler.Inspect([](const SchedulerCore& core) {
      EXPECT_TRUE(core.Idle());
      for (const DeviceState& device : core.devices()) EXPECT_EQ(device.reserved_bytes(), 0);
    });
    executor.Quit();
  }
  std::map<JobId, int> counts = endings.counts();
  EXPECT_EQ(counts.size(), accepted_ids.size());
  for (JobId id : accepted_ids) EXPECT_EQ(counts[id], 1) << "job " << id;
  std::map<absl::StatusCode, int> codes = endings.codes();
  EXPECT_EQ(codes[absl::StatusCode::kOk] + codes[absl::StatusCode::kCancelled], accepted.load());
  EXPECT_GT(codes[absl::StatusCode::kOk], 0);
  EXPECT_GT(cancels_known.load(), 0);
  EXPECT_EQ(executor.violations(), 0);
  EXPECT_GT(executor.launches(), 0);
}

TEST(ThreadedSchedulerTest, CallbacksMayCallBackIntoTheScheduler) {
  const std::vector<std::int64_t> budgets{24 * kGB};
  LinearMemoryEstimator estimator(TestModels());
  SteadyClock clock;
  ThreadedExecutor executor(budgets);
  Endings endings;
  std::atomic<int> chained{0};
  {
    Scheduler scheduler(SchedulerConfig{}, testing_rig::Rig::Devices(budgets), estimator, executor,
                        clock);
    executor.Attach(&scheduler);
    // Each ending submits the next job from inside the callback, until 50 have run.
    std::function<void(JobId, const absl::Status&)> chain = [&](JobId, const absl::Status& status) {
      EXPECT_TRUE(status.ok()) << status.ToString();
      if (++chained < 50) {
        JobId next = 0;
        EXPECT_TRUE(scheduler.Submit(Request("small"), chain, &next).ok());
        scheduler.Cancel(next + 1000);  // unknown: must simply say so
      }
    };
    JobId first = 0;
    ASSERT_TRUE(scheduler.Submit(Request("small"), chain, &first).ok());
    // Idle only once the chain is done: each callback submits the next job before it returns.
    scheduler.WaitIdle();
    scheduler.Drain();
    executor.Quit();
  }
  EXPECT_EQ(chained.load(), 50);
}

TEST(ThreadedSchedulerTest, ShutdownReportsWhatWasStillPending) {
  const std::vector<std::int64_t> budgets{24 * kGB};
  LinearMemoryEstimator estimator(TestModels());
  SteadyClock clock;
  ThreadedExecutor executor(budgets);
  Endings endings;
  std::vector<JobId> ids(10);
  {
    Scheduler scheduler(SchedulerConfig{}, testing_rig::Rig::Devices(budgets), estimator, executor,
                        clock);
    // No executor worker: launches start but never finish.
    for (JobId& id : ids) {
      ASSERT_TRUE(scheduler.Submit(Request("big"), endings.Callback(), &id).ok());
    }
  }
  std::map<JobId, int> counts = endings.counts();
  for (JobId id : ids) EXPECT_EQ(counts[id], 1);
  EXPECT_EQ(endings.codes()[absl::StatusCode::kUnavailable], 10);
}

}  // namespace
}  // namespace streamdit::scheduler
