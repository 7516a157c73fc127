#include "engine/tools/demo_model_command.h"

#include <chrono>
#include <exception>
#include <filesystem>

#include "engine/demo/demo_model.h"

namespace streamdit::engine {
namespace {

constexpr char kUsage[] =
    "usage: streamdit demo-model DIR [--corpus FILE]\n"
    "  writes a small random FLUX.1 model set with the real file names and layouts into DIR\n"
    "  (flux1-demo.safetensors, ae.safetensors, t5xxl_fp16.safetensors, clip_l.safetensors,\n"
    "  spiece.model, vocab.json, merges.txt); the tokenizers are trained on FILE\n"
    "  (default: assets/demo_corpus.txt)\n";

}  // namespace

int RunDemoModelCommand(const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err) {
  std::string directory;
  std::string corpus = DefaultDemoCorpusPath();
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return 0;
    }
    if (args[i] == "--corpus" && i + 1 < args.size()) {
      corpus = args[++i];
    } else if (args[i].rfind("--", 0) != 0 && directory.empty()) {
      directory = args[i];
    } else {
      err << "demo-model: unexpected argument '" << args[i] << "'\n" << kUsage;
      return 2;
    }
  }
  if (directory.empty()) {
    err << "demo-model: missing DIR\n" << kUsage;
    return 2;
  }
  try {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<std::string> files = WriteDemoModel(directory, corpus);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const std::string& file : files) {
      out << "  " << file << " (" << std::filesystem::file_size(file) << " bytes)\n";
    }
    out << "demo model written to " << directory << " in " << seconds << " s\n";
    return 0;
  } catch (const std::exception& error) {
    err << "demo-model: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace streamdit::engine
