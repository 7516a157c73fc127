#include "engine/checkpoint/read_only_mapping.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/checkpoint/checkpoint_error.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;

std::string SystemError(const std::string& what) { return what + ": " + std::strerror(errno); }

// Closes the descriptor on every exit path; the mapping outlives it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

ReadOnlyMapping MapReadOnly(const std::string& path) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw CheckpointError(Code::kIo, path, "", SystemError("cannot open"));
  struct stat status;
  if (::fstat(fd.get(), &status) != 0) {
    throw CheckpointError(Code::kIo, path, "", SystemError("cannot stat"));
  }
  if (!S_ISREG(status.st_mode)) throw CheckpointError(Code::kIo, path, "", "not a regular file");
  ReadOnlyMapping mapping;
  mapping.size = static_cast<uint64_t>(status.st_size);
  if (mapping.size == 0) return mapping;  // mmap refuses a length of 0
  void* data = ::mmap(nullptr, mapping.size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (data == MAP_FAILED) throw CheckpointError(Code::kIo, path, "", SystemError("cannot map"));
  mapping.data = static_cast<const uint8_t*>(data);
  return mapping;
}

void UnmapReadOnly(const ReadOnlyMapping& mapping) {
  if (mapping.data != nullptr) ::munmap(const_cast<uint8_t*>(mapping.data), mapping.size);
}

}  // namespace streamdit::engine
