#include "server/metrics/civetweb_thread_stacks.h"

#include <dlfcn.h>
#include <pthread.h>

#include <algorithm>
#include <cstddef>

namespace {

constexpr std::size_t kMinimumStackBytes = std::size_t{1} << 20;

using SetStackSize = int (*)(pthread_attr_t*, std::size_t);

SetStackSize LibcSetStackSize() {
  static const SetStackSize next =
      reinterpret_cast<SetStackSize>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  return next;
}

}  // namespace

extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, std::size_t stack_bytes) {
  const SetStackSize next = LibcSetStackSize();
  if (next == nullptr) return 0;  // keep the default stack size (8 MiB): never smaller
  return next(attr, std::max(stack_bytes, kMinimumStackBytes));
}

namespace streamdit::server {

bool CivetwebThreadStacksRaised() { return LibcSetStackSize() != nullptr; }

}  // namespace streamdit::server
