#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/clock.h"

namespace streamdit::scheduler {

using JobId = std::uint64_t;
using LaunchId = std::uint64_t;

// Priority classes; each has its own bounded queue. Aging makes a class worth a fixed amount of
// waiting (SchedulerConfig::aging_step), so no class can starve another.
enum class Priority : int { kLow = 0, kNormal = 1, kHigh = 2 };
constexpr int kPriorityClasses = 3;

// What determines a job's memory and run time.
struct JobShape {
  std::string model;
  int width = 0;
  int height = 0;
  int steps = 0;
  int batch = 1;                   // images generated together
  std::vector<std::string> loras;  // adapter names; order does not matter
};

struct JobRequest {
  JobShape shape;
  Priority priority = Priority::kNormal;
  std::optional<TimePoint> deadline;  // absolute, on the scheduler's clock
};

// Jobs with equal keys can run as one batch: same model, resolution and step count. LoRA sets may
// differ (each image gets its own request's adapters); the batch's shape carries their union
// (MergeLoras), which is what its memory depends on.
std::string BatchKey(const JobShape& shape);

// `into.loras` gains the adapters of `from` it lacks (order: first use).
void MergeLoras(JobShape& into, const JobShape& from);

// Memory depends on everything in the batch key except the step count, plus the batch size: the
// estimator's corrections are learned per memory key.
std::string MemoryKey(const JobShape& shape);

}  // namespace streamdit::scheduler
