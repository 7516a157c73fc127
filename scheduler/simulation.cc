#include "scheduler/simulation.h"

#include <algorithm>
#include <cmath>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <utility>

namespace streamdit::scheduler {

Simulation::Simulation(SchedulerConfig config, std::vector<DeviceConfig> devices,
                       std::vector<ModelProfile> models, FakeExecutorConfig executor_config,
                       SchedulerObserver* observer)
    : estimator_(models),
      core_(std::move(config), devices, estimator_, observer),
      executor_(std::move(executor_config), std::move(models), devices, clock_) {}

SimulationResult Simulation::Run(const std::vector<TraceJob>& trace) {
  SimulationResult result;
  result.jobs.resize(trace.size());
  std::vector<std::size_t> order(trace.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return trace[a].arrival < trace[b].arrival;
  });
  std::unordered_map<JobId, std::size_t> index_of;
  using Event = std::pair<TimePoint, std::size_t>;  // (when, trace index)
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> cancels;
  const TimePoint start = clock_.Now();
  std::size_t next_arrival = 0;
  bool drained = false;

  for (std::uint64_t iteration = 0;; ++iteration) {
    if (iteration > 50'000'000) throw std::runtime_error("simulation does not terminate");
    std::optional<TimePoint> next;
    auto consider = [&next](std::optional<TimePoint> t) {
      if (t && (!next || *t < *next)) next = t;
    };
    if (next_arrival < order.size()) consider(start + trace[order[next_arrival]].arrival);
    if (!cancels.empty()) consider(cancels.top().first);
    consider(executor_.NextEventTime());
    consider(core_.NextWakeup());
    if (drain_at_ && !drained) consider(start + *drain_at_);
    if (!next) break;
    const TimePoint now = std::max(*next, clock_.Now());
    clock_.AdvanceTo(now);

    for (const LaunchResult& finished : executor_.AdvanceTo(now)) {
      core_.OnLaunchFinished(finished, now);
    }
    if (drain_at_ && !drained && start + *drain_at_ <= now) {
      core_.BeginDrain();
      drained = true;
    }
    while (next_arrival < order.size() && start + trace[order[next_arrival]].arrival <= now) {
      const std::size_t index = order[next_arrival++];
      const TraceJob& job = trace[index];
      JobRequest request{job.shape, job.priority, std::nullopt};
      if (job.deadline_after) request.deadline = now + *job.deadline_after;
      SimulatedJob& record = result.jobs[index];
      record.submitted = now;
      record.admission = core_.Submit(request, now, &record.id);
      if (!record.admission.ok()) continue;
      index_of[record.id] = index;
      if (job.cancel_after) cancels.emplace(now + *job.cancel_after, index);
    }
    while (!cancels.empty() && cancels.top().first <= now) {
      core_.Cancel(result.jobs[cancels.top().second].id, now);
      cancels.pop();
    }
    core_.Dispatch(now);
    SchedulerOutbox outbox = core_.TakeOutbox();
    for (const Launch& launch : outbox.starts) {
      ++result.placements;
      for (JobId id : launch.jobs) {
        SimulatedJob& record = result.jobs[index_of.at(id)];
        if (!record.first_start) record.first_start = now;
        record.last_start = now;
        ++record.starts;
      }
      executor_.Start(launch);
    }
    for (LaunchId id : outbox.stops) executor_.Stop(id);
    for (JobEnd& end : outbox.ends) {
      auto found = index_of.find(end.id);
      if (found == index_of.end()) {
        result.violations.push_back("end of unknown job " + std::to_string(end.id));
        continue;
      }
      SimulatedJob& record = result.jobs[found->second];
      ++record.end_reports;
      record.ended = now;
      record.status = std::move(end.status);
    }
    if (after_dispatch_) after_dispatch_(core_, executor_, now);
  }
  result.finished = clock_.Now();
  result.executor = executor_.stats();
  for (const std::string& violation : executor_.violations())
    result.violations.push_back(violation);
  result.core_idle = core_.Idle();
  return result;
}

SimulationSummary Summarize(const std::vector<TraceJob>& trace, const SimulationResult& result) {
  SimulationSummary summary;
  std::vector<double> latencies;
  std::optional<TimePoint> first_arrival;
  std::optional<TimePoint> last_completion;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    const SimulatedJob& job = result.jobs[i];
    if (!first_arrival || job.submitted < *first_arrival) first_arrival = job.submitted;
    if (!job.admission.ok() || !job.ended || !job.status.ok()) continue;
    ++summary.completed;
    summary.images += trace[i].shape.batch;
    latencies.push_back(ToSeconds(*job.ended - job.submitted));
    if (!last_completion || *job.ended > *last_completion) last_completion = job.ended;
  }
  if (latencies.empty()) return summary;
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&latencies](double p) {
    std::size_t rank = static_cast<std::size_t>(std::ceil(p * latencies.size()));
    return latencies[std::min(latencies.size(), std::max<std::size_t>(rank, 1)) - 1];
  };
  summary.p50_latency_seconds = percentile(0.50);
  summary.p99_latency_seconds = percentile(0.99);
  summary.makespan_seconds = ToSeconds(*last_completion - *first_arrival);
  if (summary.makespan_seconds > 0) {
    summary.images_per_second = static_cast<double>(summary.images) / summary.makespan_seconds;
  }
  return summary;
}

}  // namespace streamdit::scheduler
