// Opening a checkpoint file and mapping it read-only: the one place the readers (safetensors,
// GGUF) talk to the file system, so that both refuse the same things with the same errors.
#pragma once

#include <cstdint>
#include <string>

namespace streamdit::engine {

struct ReadOnlyMapping {
  const uint8_t* data = nullptr;  // nullptr for an empty file (nothing to map)
  uint64_t size = 0;
};

// Opens `path`, checks that it is a regular file and maps all of it read-only (MAP_SHARED: pages
// come from the page cache and are shared between processes). The descriptor is closed before
// returning; the caller owns the mapping and releases it with UnmapReadOnly. Throws CheckpointError
// kIo naming the path and the system's reason when it cannot open, stat or map the file, or when
// it is not a regular file.
ReadOnlyMapping MapReadOnly(const std::string& path);

// Releases a mapping from MapReadOnly (a no-op for an empty one).
void UnmapReadOnly(const ReadOnlyMapping& mapping);

}  // namespace streamdit::engine
