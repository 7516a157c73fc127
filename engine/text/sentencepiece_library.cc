#include "engine/text/sentencepiece_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "engine/status/status_error.h"
#include "engine/text/sentencepiece_shim/sentencepiece_shim.h"

namespace streamdit::engine {
namespace {

struct ShimApi {
  decltype(&streamdit_spm_load) load;
  decltype(&streamdit_spm_free) free;
  decltype(&streamdit_spm_piece_size) piece_size;
  decltype(&streamdit_spm_pad_id) pad_id;
  decltype(&streamdit_spm_eos_id) eos_id;
  decltype(&streamdit_spm_encode) encode;
  decltype(&streamdit_spm_train) train;
  decltype(&streamdit_spm_free_bytes) free_bytes;
};

constexpr char kShimName[] = "libstreamdit_sentencepiece_shim.so";

// Candidates: $STREAMDIT_SENTENCEPIECE_SHIM, the build tree (compile-time path), next to the
// running executable, then the dynamic loader's search path.
std::vector<std::string> ShimCandidates() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("STREAMDIT_SENTENCEPIECE_SHIM")) out.push_back(env);
#ifdef STREAMDIT_SENTENCEPIECE_SHIM_PATH
  out.push_back(STREAMDIT_SENTENCEPIECE_SHIM_PATH);
#endif
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    out.push_back((exe.parent_path() / kShimName).string());
    out.push_back((exe.parent_path() / ".." / "lib" / kShimName).string());
  }
  out.push_back(kShimName);
  return out;
}

const ShimApi& Api() {
  static ShimApi api;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    void* lib = nullptr;
    std::string errors;
    for (const std::string& path : ShimCandidates()) {
      if (path.find('/') != std::string::npos && !std::filesystem::exists(path)) continue;
      lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
      if (lib) break;
      errors += std::string("\n  ") + dlerror();
    }
    if (!lib) {
      failure =
          std::string("cannot load ") + kShimName + " (set STREAMDIT_SENTENCEPIECE_SHIM)" + errors;
      return;
    }
    auto sym = [&](const char* name) {
      void* s = dlsym(lib, name);
      if (!s) failure = std::string("sentencepiece shim lacks ") + name;
      return s;
    };
    api.load = reinterpret_cast<decltype(api.load)>(sym("streamdit_spm_load"));
    api.free = reinterpret_cast<decltype(api.free)>(sym("streamdit_spm_free"));
    api.piece_size = reinterpret_cast<decltype(api.piece_size)>(sym("streamdit_spm_piece_size"));
    api.pad_id = reinterpret_cast<decltype(api.pad_id)>(sym("streamdit_spm_pad_id"));
    api.eos_id = reinterpret_cast<decltype(api.eos_id)>(sym("streamdit_spm_eos_id"));
    api.encode = reinterpret_cast<decltype(api.encode)>(sym("streamdit_spm_encode"));
    api.train = reinterpret_cast<decltype(api.train)>(sym("streamdit_spm_train"));
    api.free_bytes = reinterpret_cast<decltype(api.free_bytes)>(sym("streamdit_spm_free_bytes"));
  });
  if (!failure.empty()) throw FailedPrecondition(failure);
  return api;
}

}  // namespace

std::unique_ptr<SentencePieceModel> SentencePieceModel::FromSerialized(const std::string& bytes) {
  char error[512] = {0};
  void* handle = Api().load(bytes.data(), bytes.size(), error, sizeof(error));
  if (!handle) throw DataLoss(error);
  return std::unique_ptr<SentencePieceModel>(new SentencePieceModel(handle));
}

SentencePieceModel::~SentencePieceModel() { Api().free(handle_); }

std::vector<int> SentencePieceModel::Encode(std::string_view text) const {
  std::vector<int> ids(text.size() + 16);
  char error[512] = {0};
  int count = Api().encode(handle_, text.data(), text.size(), ids.data(),
                           static_cast<int>(ids.size()), error, sizeof(error));
  if (count < 0) throw Internal(std::string("SentencePiece encoding failed: ") + error);
  if (count > static_cast<int>(ids.size())) {
    ids.resize(count);
    count =
        Api().encode(handle_, text.data(), text.size(), ids.data(), count, error, sizeof(error));
  }
  ids.resize(count);
  return ids;
}

int SentencePieceModel::piece_size() const { return Api().piece_size(handle_); }
int SentencePieceModel::pad_id() const { return Api().pad_id(handle_); }
int SentencePieceModel::eos_id() const { return Api().eos_id(handle_); }

std::string TrainSentencePiece(const std::vector<std::string>& sentences,
                               const std::unordered_map<std::string, std::string>& options) {
  std::vector<const char*> texts;
  std::vector<size_t> lengths;
  for (const auto& s : sentences) {
    texts.push_back(s.data());
    lengths.push_back(s.size());
  }
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : options) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  char* model = nullptr;
  size_t model_len = 0;
  char error[512] = {0};
  if (!Api().train(texts.data(), lengths.data(), texts.size(), keys.data(), values.data(),
                   keys.size(), &model, &model_len, error, sizeof(error))) {
    throw InvalidArgument(std::string("SentencePiece training failed: ") + error);
  }
  std::string out(model, model_len);
  Api().free_bytes(model);
  return out;
}

}  // namespace streamdit::engine
