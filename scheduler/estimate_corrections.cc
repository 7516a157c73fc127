#include "scheduler/estimate_corrections.h"

#include <algorithm>
#include <cmath>

namespace streamdit::scheduler {

double EstimateCorrections::Factor(const std::string& memory_key) const {
  auto it = factors_.find(memory_key);
  return it == factors_.end() ? 1.0 : it->second;
}

std::int64_t EstimateCorrections::Apply(const std::string& memory_key,
                                        std::int64_t base_working_bytes) const {
  double factor = Factor(memory_key);
  if (factor == 1.0) return base_working_bytes;
  return static_cast<std::int64_t>(std::ceil(static_cast<double>(base_working_bytes) * factor));
}

void EstimateCorrections::Raise(const std::string& memory_key, double factor) {
  double& current = factors_.try_emplace(memory_key, 1.0).first->second;
  if (factor > current) {
    current = factor;
    ++version_;
  }
}

void EstimateCorrections::Observe(const std::string& memory_key, std::int64_t base,
                                  std::int64_t measured) {
  if (base <= 0 || measured <= Apply(memory_key, base)) return;
  Raise(memory_key, static_cast<double>(measured) / static_cast<double>(base));
}

void EstimateCorrections::GrowAfterOutOfMemory(const std::string& memory_key, std::int64_t base,
                                               std::int64_t measured, double growth) {
  double grown = Factor(memory_key) * growth;
  if (base > 0) grown = std::max(grown, static_cast<double>(measured) / static_cast<double>(base));
  Raise(memory_key, grown);
}

}  // namespace streamdit::scheduler
