// T5 encoders as llama.cpp writes them to GGUF (convert_hf_to_gguf.py, architecture "t5encoder";
// city96's t5-v1_1-xxl-encoder-Q8_0.gguf and its siblings): the same tensors as Hugging Face's
// T5EncoderModel under llama.cpp's names, dims innermost first as in every GGUF (the reader
// reverses them, so shapes match HF's):
//
//   token_embd.weight              shared.weight
//   enc.blk.N.attn_norm.weight     encoder.block.N.layer.0.layer_norm.weight
//   enc.blk.N.attn_{q,k,v,o}       encoder.block.N.layer.0.SelfAttention.{q,k,v,o}.weight
//   enc.blk.N.attn_rel_b.weight    encoder.block.N.layer.0.SelfAttention.relative_attention_bias
//   enc.blk.N.ffn_norm.weight      encoder.block.N.layer.1.layer_norm.weight
//   enc.blk.N.ffn_{gate,up,down}   encoder.block.N.layer.1.DenseReluDense.{wi_0,wi_1,wo}.weight
//   enc.output_norm.weight         encoder.final_layer_norm.weight
//
// The encoder is then loaded by its HF names (T5Encoder::Load), so one loader serves every file.
#pragma once

#include <string>

#include "engine/checkpoint/checkpoint.h"

namespace streamdit::engine {

// HF's name of a llama.cpp T5 encoder tensor; "" for any other name (a decoder's "dec.*" tensors,
// an LM head "output.weight": an encoder needs none of them).
std::string HfT5NameOf(const std::string& llama_cpp_name);

// A T5 checkpoint under HF's names. Safetensors files and GGUF files already in HF's names come
// back as they are; a GGUF in llama.cpp's names is renamed (HfT5NameOf). A GGUF whose
// general.architecture is neither "t5encoder" nor "t5" throws CheckpointError
// (kUnrecognizedLayout) naming the file and the key.
Checkpoint WithHfT5Names(const Checkpoint& checkpoint);

}  // namespace streamdit::engine
