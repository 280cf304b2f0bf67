#include "text/vocab_map.h"

namespace floe::text {

void VocabMap::Build(const std::vector<std::pair<std::string, int32_t>>& entries) {
  size_t cap = 16;
  while (cap < entries.size() * 2 + 1) cap <<= 1;
  int bits = 0;
  while ((size_t{1} << bits) < cap) ++bits;
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  shift_ = 64 - bits;
  arena_.clear();
  max_key_bytes_ = 0;
  size_ = 0;
  for (const auto& [key, id] : entries) {
    const uint64_t h = Hash(key);
    size_t i = SlotIndex(h);
    while (true) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s.hash = h;
        s.offset = static_cast<uint32_t>(arena_.size());
        s.len = static_cast<uint32_t>(key.size());
        s.id = id;
        arena_.append(key);
        ++size_;
        if (key.size() > max_key_bytes_) max_key_bytes_ = key.size();
        break;
      }
      if (s.hash == h && s.len == key.size() &&
          std::string_view(arena_.data() + s.offset, s.len) == key) {
        s.id = id;  // duplicate key: last wins
        break;
      }
      i = (i + 1) & mask_;
    }
  }
}

}  // namespace floe::text
