#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace streamdit::scheduler {

// What the scheduler learned about the estimator: a factor >= 1 per memory key (MemoryKey) by which
// the predicted working bytes are multiplied. It grows after every out-of-memory report and
// whenever a measured peak exceeds the prediction, and never shrinks: an underestimate costs a
// failed launch, an overestimate only some streaming.
class EstimateCorrections {
 public:
  double Factor(const std::string& memory_key) const;
  std::int64_t Apply(const std::string& memory_key, std::int64_t base_working_bytes) const;

  // A launch finished and measured `measured` working bytes against an uncorrected `base`. Nothing
  // is learned when base <= 0 or measured <= 0 (unknown).
  void Observe(const std::string& memory_key, std::int64_t base, std::int64_t measured);
  // A launch ran out of memory: the factor grows by `growth`, and at least to measured / base.
  void GrowAfterOutOfMemory(const std::string& memory_key, std::int64_t base, std::int64_t measured,
                            double growth);

  // Increases whenever some factor changes, so that callers can cache corrected demands.
  std::uint64_t version() const { return version_; }

 private:
  void Raise(const std::string& memory_key, double factor);

  std::unordered_map<std::string, double> factors_;
  std::uint64_t version_ = 0;
};

}  // namespace streamdit::scheduler
