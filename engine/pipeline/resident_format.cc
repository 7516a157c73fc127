#include "engine/pipeline/resident_format.h"

#include "engine/status/status_error.h"

namespace streamdit::engine {

const char* ResidentFormatName(ResidentFormat format) {
  return format == ResidentFormat::kStored ? "stored" : "compute";
}

ResidentFormat ParseResidentFormat(const std::string& value) {
  if (value == "stored") return ResidentFormat::kStored;
  if (value == "compute") return ResidentFormat::kCompute;
  throw InvalidArgument("resident format must be 'stored' or 'compute', got '" + value + "'");
}

}  // namespace streamdit::engine
