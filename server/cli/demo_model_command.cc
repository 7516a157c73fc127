#include "server/cli/demo_model_command.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/demo/demo_model.h"

namespace streamdit::server::cli {
namespace {

struct DemoModelOptions {
  std::string directory;
  std::string corpus;  // empty: the corpus compiled into the binary
};

void RunDemoModel(const DemoModelOptions& o, std::ostream& out) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<std::string> files = engine::WriteDemoModel(o.directory, o.corpus);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const std::string& file : files) {
    out << "  " << file << " (" << std::filesystem::file_size(file) << " bytes)\n";
  }
  out << "demo model written to " << o.directory << " in " << seconds << " s\n";
}

}  // namespace

void AddDemoModelCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<DemoModelOptions>();
  CLI::App* command = app.add_subcommand(
      "demo-model",
      "Write a small random FLUX.1 model set with the real file names and layouts into DIR\n"
      "(flux1-demo.safetensors, ae.safetensors, t5xxl_fp16.safetensors, clip_l.safetensors,\n"
      "spiece.model, vocab.json, merges.txt). Deterministic: the same bytes on every run.");
  command->add_option("DIR", options->directory, "Folder to write (created if missing)")
      ->required();
  command
      ->add_option("--corpus", options->corpus,
                   "Train the tokenizers on this text file instead of the built-in corpus\n"
                   "(assets/demo_corpus.txt, compiled in)")
      ->type_name("FILE");
  table.Add("demo-model", command,
            [options](std::ostream& out, std::ostream&) { RunDemoModel(*options, out); });
}

}  // namespace streamdit::server::cli
