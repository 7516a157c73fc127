// SchedulerCore's placement: which device a job goes to, with which weight mode, which queued jobs
// ride along in its batch, and what the device drops to make room (idle models and adapters).
#include <algorithm>
#include <tuple>

#include "scheduler/scheduler_core.h"

namespace streamdit::scheduler {

bool SchedulerCore::FitsWith(const Placement& placement, std::int64_t working, std::int64_t weights,
                             std::int64_t claim) const {
  if (placement.mode == WeightMode::kLoad) return weights + working + claim <= placement.available;
  return working + claim <= placement.available;
}

std::int64_t SchedulerCore::Reservation(const Placement& placement, std::int64_t working,
                                        std::int64_t weights, double residency_cap,
                                        std::int64_t claim) const {
  if (placement.mode != WeightMode::kStreamed) return working;
  // A streamed launch gets as much of the device as is useful: every resident byte is a byte it
  // does not copy in every step. Its adapters come first.
  auto keepable = static_cast<std::int64_t>(static_cast<double>(weights) * residency_cap);
  return std::min(placement.available - claim, working + keepable);
}

std::optional<SchedulerCore::Placement> SchedulerCore::FindPlacement(JobRecord& job) {
  const std::int64_t working = CorrectedWorking(job);
  const std::int64_t weights = job.base.weight_bytes;
  std::optional<Placement> best;
  // Lexicographic: weight mode (shared < load < streamed), whether idle models or adapters must be
  // evicted, then the room left unused (best fit) or, when streaming, the reservation (larger is
  // better).
  std::tuple<int, int, std::int64_t> best_score{};
  for (const DeviceState& device : devices_) {
    if (!device.healthy()) continue;
    if (reservation_ && reservation_->device == device.index() && reservation_->job != job.id) {
      continue;
    }
    // Adapters the device holds for a running launch cost nothing; the others are claimed.
    const std::int64_t claim = device.AdapterClaim(job.base.adapters);
    const std::int64_t load = device.AdapterLoadBytes(job.base.adapters);
    // Shared: the resident copy stays, the job needs only its working bytes. Otherwise every idle
    // model may go, its own idle copy included (a streamed launch does not need it resident).
    const bool resident = device.FindResident(job.model) != nullptr;
    const std::int64_t shared_available = device.AvailableFor(job.model);
    const std::int64_t any_available = device.AvailableToAnyLaunch();
    Placement placement{device.index(), WeightMode::kStreamed, any_available};
    std::int64_t needed = working + load;
    if (resident && working + claim <= shared_available) {
      placement.mode = WeightMode::kShared;
      placement.available = shared_available;
    } else if (!resident && weights + working + claim <= any_available) {
      placement.mode = WeightMode::kLoad;
      needed = weights + working + load;
    } else if (working + claim > any_available) {
      continue;
    }
    const std::int64_t available = placement.available - claim;
    if (config_.placement == PlacementPolicy::kFirstFit) return placement;
    std::tuple<int, int, std::int64_t> score;
    if (placement.mode == WeightMode::kStreamed) {
      std::int64_t reservation = Reservation(placement, working, weights, job.residency_cap, claim);
      // Larger reservations rank first; reservation >= 0, so its negation cannot overflow.
      score = {2, reservation + load > device.free() ? 1 : 0, -reservation};
    } else {
      score = {placement.mode == WeightMode::kShared ? 0 : 1, needed > device.free() ? 1 : 0,
               available - (needed - load)};
    }
    if (!best || score < best_score) {
      best = placement;
      best_score = score;
    }
  }
  return best;
}

void SchedulerCore::Place(JobRecord& head, const Placement& placement, TimePoint now) {
  DeviceState& device = devices_[placement.device];
  std::vector<JobId> members{head.id};
  JobShape shape = head.request.shape;
  std::int64_t working = CorrectedWorking(head);
  std::vector<AdapterDemand> adapters = head.base.adapters;
  std::int64_t claim = device.AdapterClaim(adapters);
  std::string memory_key = head.memory_key;
  std::int64_t base_working = head.base.working_bytes;
  double residency_cap = head.residency_cap;
  int attempt = head.oom_retries + head.failure_retries;
  const std::int64_t weights = head.base.weight_bytes;

  // Batching: compatible queued jobs ride along, in rank order, while the batch's corrected
  // estimate (its adapters included) still fits the chosen device. Memory grows with the batch, so
  // once adding `b` images failed, no candidate of `b` or more images is tried again; the scan
  // stops when even one more image cannot fit, and after a bounded number of candidates.
  const JobQueue::Ordered* compatible = queue_.WithBatchKey(head.batch_key);
  if (config_.max_batch_images > 1 && compatible != nullptr && compatible->size() > 1) {
    int smallest_misfit = config_.max_batch_images + 1;  // images that did not fit
    int scanned = 0;
    const int scan_limit = 4 * config_.max_batch_images;
    for (const JobQueue::Entry& entry : *compatible) {
      const int room = std::min(config_.max_batch_images - shape.batch, smallest_misfit - 1);
      if (room < 1 || ++scanned > scan_limit) break;
      if (entry.id == head.id) continue;
      const JobRecord& candidate = jobs_.at(entry.id);
      const int images = candidate.request.shape.batch;
      if (images > room) continue;
      JobShape trial = shape;
      trial.batch += images;
      MergeLoras(trial, candidate.request.shape);
      absl::StatusOr<MemoryDemand> estimated = estimator_.Estimate(trial);
      if (!estimated.ok() || estimated->working_bytes < 0) continue;
      const MemoryDemand& demand = *estimated;
      std::string trial_key = MemoryKey(trial);
      std::int64_t trial_working = corrections_.Apply(trial_key, demand.working_bytes);
      const std::int64_t trial_claim = device.AdapterClaim(demand.adapters);
      if (!FitsWith(placement, trial_working, weights, trial_claim)) {
        smallest_misfit = images;
        continue;
      }
      members.push_back(candidate.id);
      shape = std::move(trial);
      working = trial_working;
      adapters = demand.adapters;
      claim = trial_claim;
      memory_key = std::move(trial_key);
      base_working = demand.working_bytes;
      residency_cap = std::min(residency_cap, candidate.residency_cap);
      attempt = std::max(attempt, candidate.oom_retries + candidate.failure_retries);
    }
  }

  const std::int64_t reservation = Reservation(placement, working, weights, residency_cap, claim);
  const bool loads = placement.mode == WeightMode::kLoad;
  Launch launch;
  launch.id = next_launch_id_++;
  launch.device = placement.device;
  launch.mode = placement.mode;
  launch.model_bytes = weights;
  launch.budget_bytes = reservation;
  launch.predicted_working_bytes = working;
  launch.attempt = attempt;
  int keep = placement.mode == WeightMode::kShared ? head.model : -1;
  const std::int64_t load = device.AdapterLoadBytes(adapters);
  Evictions evicted =
      device.EvictUntilFree(reservation + (loads ? weights : 0) + load, keep, adapters);
  for (const auto& [model, bytes] : evicted.models) {
    launch.evict.push_back(model_names_[model]);
    observer_->OnModelEvicted(device.index(), model_names_[model], bytes);
  }
  for (const AdapterDemand& adapter : adapters) {
    if (device.FindAdapter(adapter.key) == nullptr) {
      observer_->OnAdapterLoaded(device.index(), adapter.key, adapter.bytes);
    }
  }
  device.StartLaunch(head.model, reservation, placement.mode == WeightMode::kShared, loads, weights,
                     adapters);
  if (loads) observer_->OnModelLoaded(device.index(), model_names_[head.model], weights);
  // The adapters in use are active now: only idle ones beyond the cache's bound go.
  for (const AdapterDemand& adapter :
       device.TrimIdleAdapters(device.config().adapter_cache_limit())) {
    evicted.adapters.push_back(adapter);
  }
  for (const AdapterDemand& adapter : evicted.adapters) {
    launch.evict_adapters.push_back(adapter.key);
    observer_->OnAdapterEvicted(device.index(), adapter.key, adapter.bytes);
  }
  launch.adapters = std::move(adapters);

  Duration longest_wait = Duration::zero();
  for (JobId id : members) {
    if (reservation_ && reservation_->job == id) ClearHeadReservation();
    JobRecord& member = jobs_.at(id);
    Unqueue(member);
    member.state = JobState::kRunning;
    member.launch = launch.id;
    longest_wait = std::max(longest_wait, now - member.submitted);
    observer_->OnJobStarted(id, now - member.submitted);
  }
  launch.shape = std::move(shape);
  launch.jobs = members;
  observer_->OnLaunchPlaced(launch, longest_wait);
  ReportQueueDepth();
  ReportDevice(device);
  LaunchRecord record{launch,       head.model,         std::move(memory_key),
                      base_working, std::move(members), false};
  outbox_.starts.push_back(std::move(launch));
  launches_.emplace(record.launch.id, std::move(record));
}

}  // namespace streamdit::scheduler
