#include "engine/pipeline/prompt_cache.h"

#include <c10/core/ScalarType.h>

namespace streamdit::engine {
namespace {

int64_t TensorBytes(const torch::Tensor& tensor) {
  return tensor.defined() ? tensor.numel() * static_cast<int64_t>(tensor.element_size()) : 0;
}

}  // namespace

int64_t PromptEmbedding::nbytes() const { return TensorBytes(t5) + TensorBytes(clip); }

std::string PromptEmbeddingCache::Key(const std::string& prompt, int64_t t5_max_length,
                                      torch::ScalarType dtype, const std::string& text_adapters) {
  // Length-prefixed prompt first, so that no prompt text can mimic another key's suffix.
  std::string key = std::to_string(prompt.size()) + ":" + prompt +
                    "|t5=" + std::to_string(t5_max_length) + "|" + c10::toString(dtype);
  if (!text_adapters.empty()) key += "|lora=" + text_adapters;
  return key;
}

std::shared_ptr<const PromptEmbedding> PromptEmbeddingCache::Find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, found->second);
  return found->second->embedding;
}

void PromptEmbeddingCache::Insert(const std::string& key,
                                  std::shared_ptr<const PromptEmbedding> embedding) {
  const int64_t bytes = embedding ? embedding->nbytes() : 0;
  std::lock_guard<std::mutex> lock(mutex_);
  auto found = index_.find(key);
  if (found != index_.end()) {
    size_bytes_ -= found->second->bytes;
    lru_.erase(found->second);
    index_.erase(found);
  }
  if (!embedding || bytes > capacity_bytes_) return;
  lru_.push_front(Entry{key, std::move(embedding), bytes});
  index_[key] = lru_.begin();
  size_bytes_ += bytes;
  EvictLocked();
}

void PromptEmbeddingCache::EvictLocked() {
  while (size_bytes_ > capacity_bytes_ && !lru_.empty()) {
    size_bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
}

int64_t PromptEmbeddingCache::size_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return size_bytes_;
}

std::size_t PromptEmbeddingCache::entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lru_.size();
}

int64_t PromptEmbeddingCache::hits() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return hits_;
}

int64_t PromptEmbeddingCache::misses() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return misses_;
}

}  // namespace streamdit::engine
