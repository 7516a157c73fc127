#include "scheduler/job.h"

#include <algorithm>

namespace streamdit::scheduler {
namespace {

std::string SortedLoras(const JobShape& shape) {
  std::vector<std::string> loras = shape.loras;
  std::sort(loras.begin(), loras.end());
  loras.erase(std::unique(loras.begin(), loras.end()), loras.end());
  std::string joined;
  for (const std::string& lora : loras) {
    joined += lora;
    joined += ',';
  }
  return joined;
}

}  // namespace

std::string BatchKey(const JobShape& shape) {
  return shape.model + '|' + std::to_string(shape.width) + 'x' + std::to_string(shape.height) +
         "|s" + std::to_string(shape.steps);
}

void MergeLoras(JobShape& into, const JobShape& from) {
  for (const std::string& lora : from.loras) {
    if (std::find(into.loras.begin(), into.loras.end(), lora) == into.loras.end()) {
      into.loras.push_back(lora);
    }
  }
}

std::string MemoryKey(const JobShape& shape) {
  return shape.model + '|' + std::to_string(shape.width) + 'x' + std::to_string(shape.height) +
         "|b" + std::to_string(shape.batch) + '|' + SortedLoras(shape);
}

}  // namespace streamdit::scheduler
