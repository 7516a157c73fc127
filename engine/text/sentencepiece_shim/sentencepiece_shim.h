// A C interface to Debian's libsentencepiece, built as its own shared library.
//
// Why: libsentencepiece.so embeds (and exports) its own copy of protobuf-lite, while libtorch links
// the system libprotobuf; loading both into one process lets each bind the other's protobuf
// symbols and crashes at start-up. The engine therefore never links sentencepiece: it dlopen()s
// this shim with RTLD_LOCAL | RTLD_DEEPBIND (engine/text/sentencepiece_library.h), which makes the
// shim and the sentencepiece it pulls in resolve protobuf within themselves.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Every function reports failure by returning 0/NULL and writing a message into `error`.
void* streamdit_spm_load(const char* model_bytes, size_t model_len, char* error, size_t error_len);
void streamdit_spm_free(void* processor);
int streamdit_spm_piece_size(const void* processor);
int streamdit_spm_pad_id(const void* processor);
int streamdit_spm_eos_id(const void* processor);
// Writes at most `capacity` ids; returns the total count (may exceed capacity), or -1 on error.
int streamdit_spm_encode(const void* processor, const char* text, size_t text_len, int* ids,
                         int capacity, char* error, size_t error_len);
// Trains from in-memory sentences with "key=value" options; on success *model (malloc'ed, freed
// with streamdit_spm_free_bytes) holds the serialized model and 1 is returned.
int streamdit_spm_train(const char* const* sentences, const size_t* lengths, size_t count,
                        const char* const* option_keys, const char* const* option_values,
                        size_t option_count, char** model, size_t* model_len, char* error,
                        size_t error_len);
void streamdit_spm_free_bytes(char* bytes);

#ifdef __cplusplus
}
#endif
