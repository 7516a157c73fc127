// Debian's civetweb (the HTTP server under prometheus-cpp's exposer) asks for 100 KiB thread
// stacks, fixed at its compile time. glibc carves every thread's static TLS out of its stack, and
// this process's libraries (OpenBLAS alone: 60 KiB) take more than that: pthread_create fails
// with EINVAL and the exposer cannot start ("null context when constructing CivetServer").
//
// This file's object defines pthread_attr_setstacksize in the executable, which the dynamic
// linker then prefers for every library's call: requests below 1 MiB are raised to 1 MiB (virtual
// memory; pages are touched only as used), everything else passes through unchanged.
#pragma once

namespace streamdit::server {

// Referenced by MetricsExposer so that the linker keeps the override (a static library's object
// is linked only when something uses it). Returns true once the override is in place.
bool CivetwebThreadStacksRaised();

}  // namespace streamdit::server
