// The prompt-embedding cache: what both text encoders made of a prompt, kept so that a repeated
// prompt (the common case when a user varies only the seed) skips T5 and CLIP entirely. Least
// recently used entries are evicted to stay within a byte budget; an entry larger than the whole
// budget is not kept. Thread-safe: one cache serves every job of a pipeline.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace streamdit::engine {

struct PromptEmbedding {
  torch::Tensor t5;    // [1, t5_max_length, context_in_dim]
  torch::Tensor clip;  // [1, vec_in_dim]: CLIP's pooled vector
  // Warnings produced while encoding (truncation), repeated to every request that hits the entry.
  std::vector<std::string> warnings;

  int64_t nbytes() const;
};

class PromptEmbeddingCache {
 public:
  explicit PromptEmbeddingCache(int64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // The key covers everything that changes the embedding besides the model itself.
  // `text_adapters`: what identifies the LoRAs applied to the text encoders (empty: none).
  static std::string Key(const std::string& prompt, int64_t t5_max_length, torch::ScalarType dtype,
                         const std::string& text_adapters = "");

  // nullptr on a miss; a hit becomes the most recently used entry.
  std::shared_ptr<const PromptEmbedding> Find(const std::string& key);
  // Inserts (or replaces) and evicts least recently used entries until within capacity.
  void Insert(const std::string& key, std::shared_ptr<const PromptEmbedding> embedding);

  int64_t capacity_bytes() const { return capacity_bytes_; }
  int64_t size_bytes() const;
  std::size_t entries() const;
  int64_t hits() const;
  int64_t misses() const;

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const PromptEmbedding> embedding;
    int64_t bytes = 0;
  };
  void EvictLocked();

  const int64_t capacity_bytes_;
  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  int64_t size_bytes_ = 0;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace streamdit::engine
