#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/byte_size.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;
using json = nlohmann::ordered_json;

// The data section starts on an 8-byte boundary (as the reference implementation pads it) so that
// tensors of any dtype written first are aligned in the mapping.
constexpr std::size_t kDataAlignment = 8;

struct HeaderEntry {
  const std::string& name;
  DType dtype;
  const std::vector<int64_t>& shape;
  uint64_t begin;
  uint64_t end;
};

// The header bytes (without the length prefix), padded with spaces to the data alignment. Entries
// are serialized one by one and joined, keeping Add order in linear time (ordered_json's inserts
// are linear each).
std::string SerializeHeader(const std::vector<HeaderEntry>& entries,
                            const std::map<std::string, std::string>& metadata) {
  std::string text = "{";
  std::set<std::string_view> names = {"__metadata__"};
  try {
    if (!metadata.empty()) {
      json meta = json::object();
      for (const auto& [key, value] : metadata) meta[key] = value;
      text += "\"__metadata__\":" + meta.dump();
    }
    for (const HeaderEntry& entry : entries) {
      // A JSON object cannot hold a name twice: readers would reject or drop one of them.
      if (!names.insert(entry.name).second) {
        throw InvalidArgument("safetensors header: tensor name '" + entry.name +
                              "' is duplicated or reserved");
      }
      const json fields = {{"dtype", std::string(DTypeName(entry.dtype))},
                           {"shape", entry.shape},
                           {"data_offsets", {entry.begin, entry.end}}};
      if (text.size() > 1) text += ",";
      text += json(entry.name).dump() + ":" + fields.dump();
    }
  } catch (const json::exception& error) {  // names or metadata that are not valid UTF-8
    throw InvalidArgument(std::string("safetensors header cannot be encoded: ") + error.what());
  }
  text += "}";
  const std::size_t unaligned = (8 + text.size()) % kDataAlignment;
  if (unaligned != 0) text.append(kDataAlignment - unaligned, ' ');
  return text;
}

void WriteAll(int fd, const void* data, std::size_t size, const std::string& path) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t written = ::write(fd, bytes, size);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw CheckpointError(Code::kIo, path, "",
                            std::string("write failed: ") + std::strerror(errno));
    }
    bytes += written;
    size -= static_cast<std::size_t>(written);
  }
}

// Writes into a temporary file next to `path` and renames it into place, so a reader never sees a
// half-written checkpoint. `fill` writes everything after the header and sizes the file.
template <typename Fill>
void WriteAtomically(const std::string& path, const std::string& header, const Fill& fill) {
  static std::atomic<unsigned> counter{0};
  const std::string temporary =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw CheckpointError(Code::kIo, path, "",
                          "cannot create " + temporary + ": " + std::strerror(errno));
  }
  bool closed = false;
  try {
    uint8_t length[8];
    const uint64_t header_size = header.size();
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(header_size >> (8 * i));
    WriteAll(fd, length, sizeof(length), path);
    WriteAll(fd, header.data(), header.size(), path);
    fill(fd);
    closed = true;
    if (::close(fd) != 0) {
      throw CheckpointError(Code::kIo, path, "",
                            std::string("close failed: ") + std::strerror(errno));
    }
  } catch (...) {
    if (!closed) ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    throw CheckpointError(Code::kIo, path, "",
                          std::string("rename failed: ") + std::strerror(error));
  }
}

}  // namespace

void SafetensorsWriter::SetMetadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

void SafetensorsWriter::Add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            const void* data, std::size_t nbytes) {
  if (name == "__metadata__") {
    throw InvalidArgument("SafetensorsWriter::Add: '__metadata__' is reserved");
  }
  for (const Entry& entry : entries_) {
    if (entry.name == name) {
      throw InvalidArgument("SafetensorsWriter::Add: tensor '" + name + "' already added");
    }
  }
  const std::optional<uint64_t> expected = CheckedByteSize(dtype, shape);
  if (!expected || *expected != nbytes) {
    throw InvalidArgument("SafetensorsWriter::Add: tensor '" + name + "' has " +
                          std::to_string(nbytes) + " bytes, shape and dtype need " +
                          (expected ? std::to_string(*expected) : std::string("overflow")));
  }
  if (nbytes > 0 && data == nullptr) {
    throw InvalidArgument("SafetensorsWriter::Add: tensor '" + name + "' has no data");
  }
  Entry entry{name, dtype, shape, {}};
  if (nbytes > 0) {
    const uint8_t* bytes = static_cast<const uint8_t*>(data);
    entry.bytes.assign(bytes, bytes + nbytes);
  }
  entries_.push_back(std::move(entry));
}

void SafetensorsWriter::Write(const std::string& path) const {
  std::vector<HeaderEntry> header_entries;
  header_entries.reserve(entries_.size());
  uint64_t offset = 0;
  for (const Entry& entry : entries_) {
    header_entries.push_back(
        {entry.name, entry.dtype, entry.shape, offset, offset + entry.bytes.size()});
    offset += entry.bytes.size();
  }
  const std::string header = SerializeHeader(header_entries, metadata_);
  WriteAtomically(path, header, [&](int fd) {
    for (const Entry& entry : entries_) WriteAll(fd, entry.bytes.data(), entry.bytes.size(), path);
  });
}

void SafetensorsWriter::WriteSparse(const std::string& path, const std::vector<TensorInfo>& tensors,
                                    const std::map<std::string, std::string>& metadata) {
  std::vector<HeaderEntry> header_entries;
  header_entries.reserve(tensors.size());
  uint64_t data_bytes = 0;
  for (const TensorInfo& info : tensors) {
    header_entries.push_back({info.name, info.dtype, info.shape, info.begin, info.end});
    data_bytes = std::max(data_bytes, info.end);
  }
  const std::string header = SerializeHeader(header_entries, metadata);
  const uint64_t total = 8 + header.size() + data_bytes;
  WriteAtomically(path, header, [&](int fd) {
    // Extending with ftruncate leaves a hole: the data section occupies no disk blocks.
    if (::ftruncate(fd, static_cast<off_t>(total)) != 0) {
      throw CheckpointError(Code::kIo, path, "",
                            std::string("ftruncate failed: ") + std::strerror(errno));
    }
  });
}

}  // namespace streamdit::engine
