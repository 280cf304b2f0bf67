// Open-addressing hash map from token bytes to id, built once at load and
// read-only afterwards (safe to share across threads). The hash is FNV-1a so a
// caller can hash every prefix of a word in one forward pass (WordPiece tries
// the longest prefix first).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace floe::text {

class VocabMap {
 public:
  static constexpr uint64_t kHashSeed = 0xcbf29ce484222325ull;
  static uint64_t HashStep(uint64_t h, unsigned char b) {
    return (h ^ b) * 0x100000001b3ull;
  }
  static uint64_t Hash(std::string_view s) {
    uint64_t h = kHashSeed;
    for (unsigned char b : s) h = HashStep(h, b);
    return h;
  }

  // Builds the table; a key given twice keeps the last id (as a Python dict
  // built from vocab.txt does).
  void Build(const std::vector<std::pair<std::string, int32_t>>& entries);

  // Id of `key`, or -1. `hash` must be Hash(key).
  int32_t Find(std::string_view key, uint64_t hash) const {
    if (slots_.empty()) return -1;
    size_t i = SlotIndex(hash);
    while (true) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.hash == hash && s.len == key.size() &&
          std::string_view(arena_.data() + s.offset, s.len) == key) {
        return s.id;
      }
      i = (i + 1) & mask_;
    }
  }
  int32_t Find(std::string_view key) const { return Find(key, Hash(key)); }

  // Longest key in bytes.
  size_t max_key_bytes() const { return max_key_bytes_; }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t offset = 0;
    uint32_t len = 0;
    int32_t id = -1;
  };
  size_t SlotIndex(uint64_t hash) const {
    return static_cast<size_t>((hash * 0x9E3779B97F4A7C15ull) >> shift_) & mask_;
  }

  std::vector<Slot> slots_;
  std::string arena_;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t max_key_bytes_ = 0;
  size_t size_ = 0;
};

}  // namespace floe::text
