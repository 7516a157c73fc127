#include "server/runtime/generation_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <utility>

#include "engine/memory/cuda_device_meter.h"
#include "engine/memory/device_charge.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {

struct GenerationService::JobRecord {
  GenerationJob job;
  JobEvents events;
  std::string model;
  scheduler::TimePoint submitted;
  std::optional<scheduler::TimePoint> started;
  std::string device;  // where it ran (or last tried to)
  std::optional<JobResult> result;
  // Held by Submit from admission until on_queued has returned, and by the worker around
  // on_started: a job placed at once still tells its client "queued" before "started".
  std::mutex queued_event_mu;
};

// The scheduler's Executor: posts each launch to its device's worker (never blocks) and flags
// stops for the runner to notice at its next step.
class GenerationService::Executor final : public scheduler::Executor {
 public:
  explicit Executor(GenerationService& service) : service_(service) {}

  void Start(const scheduler::Launch& launch) override {
    auto stop = std::make_shared<std::atomic<bool>>(false);
    {
      std::lock_guard<std::mutex> lock(service_.mu_);
      service_.stops_[launch.id] = stop;
    }
    service_.workers_->Post(launch.device,
                            [this, launch, stop] { service_.RunLaunch(launch, stop); });
  }

  void Stop(scheduler::LaunchId id) override {
    std::lock_guard<std::mutex> lock(service_.mu_);
    auto found = service_.stops_.find(id);
    if (found != service_.stops_.end()) found->second->store(true);
  }

 private:
  GenerationService& service_;
};

namespace {

uint64_t RandomSeed() {
  static std::mutex mu;
  static std::mt19937_64 generator{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  std::uniform_int_distribution<uint64_t> seeds(1, 0xffffffffull);
  return seeds(generator);
}

absl::Status OutOfRange(const std::string& field, const std::string& limit, int64_t value) {
  return absl::InvalidArgumentError(field + " must be " + limit + ", got " + std::to_string(value));
}

}  // namespace

GenerationService::GenerationService(const ModelRegistry& models, ServiceSettings settings,
                                     std::unique_ptr<scheduler::MemoryEstimator> estimator,
                                     std::unique_ptr<LaunchRunner> runner,
                                     ServiceObservers observers)
    : models_(models),
      settings_(std::move(settings)),
      estimator_(std::move(estimator)),
      runner_(std::move(runner)),
      observer_(observers.service ? *observers.service : no_service_observer_) {
  std::vector<scheduler::DeviceConfig> devices;
  for (const DeviceSettings& device : settings_.devices) {
    scheduler::DeviceConfig config{device.name, device.budget_bytes};
    config.adapter_cache_bytes = device.lora_cache_bytes;
    devices.push_back(std::move(config));
    device_meters_.push_back(new engine::MemoryMeter());
    device_meters_.back()->set_limit_bytes(device.budget_bytes);
    if (device.total_bytes > 0) {
      // A CUDA device: the caching allocator's events feed the meter, and it may reserve no
      // more than the budget on the card (engine/memory/cuda_device_meter.h).
      engine::MeterCudaDevice(device.cuda_index, device_meters_.back(), device.budget_bytes,
                              device.total_bytes);
    }
  }
  workers_ = std::make_unique<DeviceWorkers>(static_cast<int>(devices.size()));
  executor_ = std::make_unique<Executor>(*this);
  scheduler_ =
      std::make_unique<scheduler::Scheduler>(settings_.scheduler, std::move(devices), *estimator_,
                                             *executor_, clock_, observers.scheduler);
  for (int d = 0; d < static_cast<int>(settings_.devices.size()); ++d) ReportDeviceMemory(d);
}

void GenerationService::ReportDeviceMemory(int device) const {
  const engine::MemoryMeter& meter = *device_meters_[static_cast<std::size_t>(device)];
  observer_.OnDeviceMemory(settings_.devices[static_cast<std::size_t>(device)].name,
                           meter.current_bytes(), meter.peak_bytes());
}

void GenerationService::ReportResidentWeights(const scheduler::Launch& launch) const {
  const std::string& device = settings_.devices[static_cast<std::size_t>(launch.device)].name;
  for (const std::string& model : launch.evict) observer_.OnResidentWeights(device, model, 0);
  for (const ResidentWeightsView& weights : runner_->ResidentWeights(launch.device)) {
    observer_.OnResidentWeights(device, weights.model, weights.bytes);
  }
}

GenerationService::~GenerationService() {
  // The scheduler ends what is pending (its callbacks still find the records), then the workers
  // finish their current task and join.
  scheduler_.reset();
  workers_.reset();
  std::vector<Reload> reloads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reloads.swap(reloads_);
  }
  for (Reload& reload : reloads) reload.thread.join();
}

void GenerationService::ReloadLoras(std::function<void(const LoraScanReport&)> done) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = reloads_.begin(); it != reloads_.end();) {
    if (it->finished->load()) {
      it->thread.join();
      it = reloads_.erase(it);
    } else {
      ++it;
    }
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  std::thread thread([this, finished, done = std::move(done)] {
    const LoraScanReport report = models_.loras().Rescan();
    if (done) done(report);
    finished->store(true);
  });
  reloads_.push_back({std::move(thread), std::move(finished)});
}

absl::Status GenerationService::Validate(const GenerationJob& job, const LoadedModel& model) const {
  const RequestLimits& limits = settings_.limits;
  const engine::GenerationRequest& request = job.request;
  if (request.seed > 0xffffffffull) {
    return absl::InvalidArgumentError(
        "seed must be in [0, 4294967295] (32 bits, as BFL's CPU generator uses; 0 = random), "
        "got " +
        std::to_string(request.seed));
  }
  // Size, steps, guidance, images and prompt length: the engine's own checks, with the service's
  // limits in place of the model's where the config sets them (the guidance range stays the
  // model's), on the request with the model's defaults filled in.
  engine::GenerationLimits checked = model.pipeline->limits();
  checked.min_size = limits.min_size;
  checked.max_size = limits.max_size;
  checked.max_steps = limits.max_steps;
  checked.max_batch_size = limits.max_images_per_request;
  checked.max_prompt_bytes = limits.max_prompt_bytes;
  const engine::FluxSamplingDefaults& defaults = model.pipeline->defaults();
  engine::GenerationRequest resolved = request;
  resolved.width = request.width.value_or(defaults.width);
  resolved.height = request.height.value_or(defaults.height);
  resolved.steps = request.steps.value_or(defaults.num_steps);
  const absl::Status valid =
      engine::StatusOfCall([&] { engine::ValidateGenerationRequest(resolved, checked); });
  if (!valid.ok()) return valid;
  const int64_t pixels = static_cast<int64_t>(*resolved.width) * *resolved.height;
  if (pixels > limits.max_pixels) {
    return OutOfRange("width x height", "at most " + std::to_string(limits.max_pixels) + " pixels",
                      pixels);
  }
  return absl::OkStatus();
}

absl::StatusOr<scheduler::JobId> GenerationService::Submit(GenerationJob job, JobEvents events) {
  const LoadedModel* model = job.model.empty() ? &models_.default_model() : models_.Find(job.model);
  if (!model) return absl::NotFoundError("model: no model named '" + job.model + "'");
  job.request.loras.clear();
  for (std::size_t i = 0; i < job.loras.size(); ++i) {
    auto adapter = models_.loras().Find(job.loras[i].name, model->name);
    if (!adapter.ok()) {
      return absl::Status(adapter.status().code(), "loras[" + std::to_string(i) + "]: " +
                                                       std::string(adapter.status().message()));
    }
    job.request.loras.push_back({*std::move(adapter), job.loras[i].strength});
  }
  if (absl::Status valid = Validate(job, *model); !valid.ok()) return valid;

  engine::GenerationRequest& request = job.request;
  const engine::FluxSamplingDefaults& defaults = model->pipeline->defaults();
  request.width = request.width.value_or(defaults.width);
  request.height = request.height.value_or(defaults.height);
  request.steps = request.steps.value_or(defaults.num_steps);
  if (request.seed == 0) request.seed = RandomSeed();

  scheduler::JobRequest scheduled;
  scheduled.shape.model = model->name;
  scheduled.shape.width = *request.width;
  scheduled.shape.height = *request.height;
  scheduled.shape.steps = *request.steps;
  scheduled.shape.batch = request.batch_size;
  // The scheduler and the devices' adapter caches know each adapter by its key.
  for (const engine::LoraUse& lora : request.loras) {
    scheduled.shape.loras.push_back(LoraLibrary::KeyOf(*lora.adapter));
  }
  scheduled.priority = job.priority;
  if (job.deadline) {
    const auto remaining = *job.deadline - std::chrono::steady_clock::now();
    scheduled.deadline = clock_.Now() + std::chrono::duration_cast<scheduler::Duration>(remaining);
  }

  auto record = std::make_shared<JobRecord>();
  record->model = model->name;
  record->submitted = clock_.Now();
  record->events = std::move(events);
  record->job = std::move(job);

  scheduler::JobId id = 0;
  std::unique_lock<std::mutex> queued_event(record->queued_event_mu);
  {
    // Held across Submit so that a worker that starts the job at once finds its record.
    std::lock_guard<std::mutex> lock(mu_);
    absl::Status admitted = scheduler_->Submit(
        scheduled,
        [this](scheduler::JobId ended, const absl::Status& status) { OnJobEnded(ended, status); },
        &id);
    if (!admitted.ok()) return admitted;
    jobs_[id] = record;
  }
  if (record->events.on_queued) {
    int position = 0;
    scheduler_->Inspect([&](const scheduler::SchedulerCore& core) {
      const auto queue = core.QueueInRankOrder(core.queued());
      position = static_cast<int>(queue.size());
      for (std::size_t i = 0; i < queue.size(); ++i) {
        if (queue[i].id == id) position = static_cast<int>(i);
      }
    });
    record->events.on_queued(position);
  }
  queued_event.unlock();
  return id;
}

bool GenerationService::Cancel(scheduler::JobId id) { return scheduler_->Cancel(id); }

void GenerationService::RunLaunch(const scheduler::Launch& launch,
                                  std::shared_ptr<std::atomic<bool>> stop) {
  std::vector<LaunchMember> members;
  std::vector<std::shared_ptr<JobRecord>> records;
  const scheduler::TimePoint started = clock_.Now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (scheduler::JobId id : launch.jobs) {
      auto found = jobs_.find(id);
      if (found == jobs_.end()) continue;  // cancelled between placement and start
      records.push_back(found->second);
      members.push_back({id, found->second->job.request});
      found->second->device = settings_.devices[launch.device].name;
      if (!found->second->started) found->second->started = started;
    }
  }
  const std::string& device = settings_.devices[launch.device].name;
  const std::string& model = launch.shape.model;
  for (const auto& record : records) {
    observer_.OnRequestStarted(model, device, scheduler::ToSeconds(started - record->submitted));
    if (record->events.on_started) {
      std::lock_guard<std::mutex> queued_event(record->queued_event_mu);  // "queued" went first
      record->events.on_started(device, launch.budget_bytes);
    }
  }
  LaunchReport report;
  if (members.empty()) {
    report.outcome = scheduler::LaunchOutcome::kStopped;
  } else {
    // Every byte the launch allocates is charged to its device, and measured there: the peak is
    // the launch's own even while other devices run theirs.
    // (On a CUDA device the caching allocator's events feed the meter; the worker's host
    // allocations are then the process's, not the card's.)
    engine::MemoryMeter& meter = *device_meters_[launch.device];
    const bool on_cuda = settings_.devices[launch.device].total_bytes > 0;
    engine::ScopedDeviceCharge charge(on_cuda ? nullptr : &meter);
    if (on_cuda) {
      // Blocks the caching allocator keeps from earlier launches count against the card's cap;
      // free them when this launch would not fit beside them.
      const DeviceSettings& settings = settings_.devices[launch.device];
      int64_t needed = launch.budget_bytes;
      const LoadedModel* loading = models_.Find(launch.shape.model);
      if (launch.mode == scheduler::WeightMode::kLoad && loading) needed += loading->weight_bytes;
      engine::ReleaseCudaCacheFor(settings.cuda_index, needed, settings.budget_bytes);
    }
    // Evictions and loads of resident weights first: they are the device's, not the launch's.
    const absl::Status prepared = runner_->PrepareWeights(launch);
    ReportResidentWeights(launch);
    ReportDeviceMemory(launch.device);
    if (!prepared.ok()) {
      report.status = prepared;
      report.budget_bytes = launch.budget_bytes;
      report.outcome = prepared.code() == absl::StatusCode::kResourceExhausted
                           ? scheduler::LaunchOutcome::kOutOfMemory
                           : scheduler::LaunchOutcome::kFailed;
    } else {
      engine::MemoryMeter::Window window = meter.OpenWindow();
      LaunchCallbacks callbacks;
      callbacks.on_step = [&](const LaunchProgress& progress) {
        observer_.OnStep(device, model, progress.step_seconds);
        ReportDeviceMemory(launch.device);
        for (const auto& record : records) {
          if (record->events.on_step) record->events.on_step(progress);
        }
      };
      callbacks.on_phase = [&](engine::PipelinePhase phase, double seconds) {
        observer_.OnPhase(device, model, phase, seconds);
        ReportDeviceMemory(launch.device);
      };
      report = runner_->Run(launch, members, *stop, callbacks);
      const int64_t device_peak = window.peak_above_start_bytes();
      if (device_peak > 0) {
        if (report.working_peak_bytes > 0) {
          report.working_peak_bytes += device_peak - report.peak_bytes;
        }
        report.peak_bytes = device_peak;
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (report.outcome == scheduler::LaunchOutcome::kSucceeded) {
      for (std::size_t i = 0; i < records.size() && i < report.outputs.size(); ++i) {
        JobResult result;
        result.output = std::move(report.outputs[i]);
        result.model = records[i]->model;
        result.device = device;
        result.queue_seconds = scheduler::ToSeconds(started - records[i]->submitted);
        result.budget_bytes = report.budget_bytes;
        result.predicted_bytes = report.predicted_bytes;
        result.peak_bytes = report.peak_bytes;
        result.batch_images = launch.shape.batch;
        records[i]->result = std::move(result);
      }
    }
    stops_.erase(launch.id);
  }
  {
    if (!members.empty()) ReportDeviceMemory(launch.device);
    LaunchStats stats;  // every placed launch ends here, even one whose members had all left
    stats.device = device;
    stats.model = model;
    stats.outcome = report.outcome;
    stats.images = launch.shape.batch;
    stats.budget_bytes = report.budget_bytes;
    stats.predicted_bytes = report.predicted_bytes;
    stats.peak_bytes = report.peak_bytes;
    stats.streamed_bytes = report.streamed_bytes;
    stats.stall_seconds = report.stall_seconds;
    stats.denoise_seconds = report.denoise_seconds;
    observer_.OnLaunchFinished(stats);
  }
  scheduler::LaunchResult result;
  result.id = launch.id;
  result.outcome = report.outcome;
  result.peak_bytes = report.peak_bytes;
  result.working_peak_bytes = report.working_peak_bytes;
  result.minimum_bytes = report.minimum_bytes;
  result.message = std::string(report.status.message());
  scheduler_->OnLaunchFinished(result);
}

void GenerationService::OnJobEnded(scheduler::JobId id, const absl::Status& status) {
  std::shared_ptr<JobRecord> record;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = jobs_.find(id);
    if (found == jobs_.end()) return;
    record = std::move(found->second);
    jobs_.erase(found);
  }
  // One line per request; the prompt is not logged at info level.
  const engine::GenerationRequest& request = record->job.request;
  const double queue_seconds =
      scheduler::ToSeconds(record->started.value_or(clock_.Now()) - record->submitted);
  spdlog::info(
      "job {} model={} size={}x{} steps={} images={} device={} queue={:.3f}s peak={} "
      "budget={} outcome={}{}{}",
      id, record->model, request.width.value_or(0), request.height.value_or(0),
      request.steps.value_or(0), request.batch_size, record->device.empty() ? "-" : record->device,
      queue_seconds, record->result ? record->result->peak_bytes : 0,
      record->result ? record->result->budget_bytes : 0, absl::StatusCodeToString(status.code()),
      status.ok() ? "" : ": ", std::string(status.message()));
  spdlog::debug("job {} prompt: {}", id, request.prompt);
  if (status.ok() && record->result) {
    const JobResult& result = *record->result;
    RequestStats stats;
    stats.model = record->model;
    stats.device = result.device;
    stats.images = static_cast<int>(result.output.png.size());
    stats.queue_seconds = result.queue_seconds;
    stats.encode_seconds = result.output.encode_seconds;
    stats.denoise_seconds = result.output.denoise_seconds;
    stats.decode_seconds = result.output.decode_seconds;
    stats.total_seconds = scheduler::ToSeconds(clock_.Now() - record->submitted);
    observer_.OnRequestSucceeded(stats);
  }
  if (!record->events.on_done) return;
  if (!status.ok()) {
    record->events.on_done(status);
  } else if (!record->result) {
    record->events.on_done(absl::InternalError("the job ended without a result"));
  } else {
    record->events.on_done(std::move(*record->result));
  }
}

ServiceStatus GenerationService::Status() const {
  ServiceStatus status;
  scheduler_->Inspect([&](const scheduler::SchedulerCore& core) {
    status.draining = core.draining();
    status.queue_depth = static_cast<int>(core.queued());
    for (int p = 0; p < scheduler::kPriorityClasses; ++p) {
      status.queue_depth_by_priority[p] =
          static_cast<int>(core.queued_in(static_cast<scheduler::Priority>(p)));
    }
    for (const scheduler::DeviceState& device : core.devices()) {
      DeviceStatusView view;
      view.name = device.config().name;
      view.budget_bytes = device.budget();
      view.reserved_bytes = device.reserved_bytes();
      view.resident_bytes = device.resident_bytes();
      view.used_bytes = device_meters_[device.index()]->current_bytes();
      view.peak_bytes = device_meters_[device.index()]->peak_bytes();
      for (const scheduler::ResidentModel& resident : device.resident()) {
        view.resident_models.push_back(core.ModelName(resident.model));
      }
      view.resident_weights = runner_->ResidentWeights(device.index());
      view.adapter_bytes = device.adapter_bytes();
      view.cached_loras = runner_->CachedLoras(device.index());
      view.running_launches = device.running_launches();
      view.healthy = device.healthy();
      status.devices.push_back(std::move(view));
    }
  });
  return status;
}

void GenerationService::Drain() { scheduler_->Drain(); }

int GenerationService::CancelAll() {
  std::vector<scheduler::JobId> ids;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, record] : jobs_) ids.push_back(id);
  }
  int cancelled = 0;
  for (scheduler::JobId id : ids) cancelled += scheduler_->Cancel(id) ? 1 : 0;
  return cancelled;
}

}  // namespace streamdit::server
