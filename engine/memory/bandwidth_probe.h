// How fast this machine moves weight bytes: host memcpy bandwidth, the stand-in for the
// host-to-device link on CPU builds (a GPU build measures its copy stream instead). Used by the
// step-time prediction (engine/pipeline/step_time_model.h) when no bandwidth is given.
#pragma once

namespace streamdit::engine {

// Best of three 256 MiB copies, in bytes/s; allocates 512 MiB for the duration of the call.
double MeasureCopyBandwidth();

}  // namespace streamdit::engine
