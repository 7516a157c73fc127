// The text the demo tokenizers are trained on: assets/demo_corpus.txt, compiled into the engine
// (engine/demo/embed_corpus.cmake) so that writing the demo model needs no file lookup and works
// from any folder.
#pragma once

#include <string_view>

namespace streamdit::engine {

// The bytes of assets/demo_corpus.txt as they were when the engine was built.
std::string_view EmbeddedDemoCorpus();

}  // namespace streamdit::engine
