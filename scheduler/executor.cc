#include "scheduler/executor.h"

namespace streamdit::scheduler {

const char* WeightModeName(WeightMode mode) {
  switch (mode) {
    case WeightMode::kShared:
      return "shared";
    case WeightMode::kLoad:
      return "load";
    case WeightMode::kStreamed:
      return "streamed";
  }
  return "unknown";
}

}  // namespace streamdit::scheduler
