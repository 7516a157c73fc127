// How a model's resident copy (ResidentWeights: the scheduler's kLoad/kShared launches) holds its
// matmul weights on the device. Only tensors whose stored format differs from the compute dtype
// are affected (fp8 codes, GGML blocks, bf16 under f32 compute); the others are the same bytes
// either way.
//
//   kStored   as the file stores them (a Q4_K weight stays 4.5 bits, fp8 stays 1 byte), each
//             decoded right before its matmul (ScopedBlock::Linear), so one layer's decoded
//             weight exists at a time: fp8 FLUX.1-dev (11.9 GB) is resident on a 16 GB card.
//   kCompute  decoded once at load into the compute dtype: no decode per step, at 2-7x the bytes.
//
// The default is kStored: the bytes a user chose by downloading a quantized file are the bytes a
// device holds, and bench/formats measures what the per-step decode costs (README "Formats").
#pragma once

#include <string>

namespace streamdit::engine {

enum class ResidentFormat { kStored, kCompute };

// "stored" or "compute"; ParseResidentFormat accepts it back.
const char* ResidentFormatName(ResidentFormat format);
// Throws StatusError INVALID_ARGUMENT naming the value and the accepted ones.
ResidentFormat ParseResidentFormat(const std::string& value);

}  // namespace streamdit::engine
