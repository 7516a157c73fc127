// For tests that need a CUDA device (label `gpu`): skips the calling test, naming the runtime's
// reason (no driver, no device, or a build without CUDA), unless a device can run it.
#pragma once

#include <gtest/gtest.h>

#include "engine/device/cuda_devices.h"

#define SKIP_WITHOUT_CUDA_DEVICE()                                                   \
  do {                                                                               \
    const auto discovered = ::streamdit::engine::DiscoverCudaDevices();              \
    if (!discovered.ok()) GTEST_SKIP() << "no CUDA device: " << discovered.status(); \
  } while (false)
