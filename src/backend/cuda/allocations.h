// The device allocations of one CUDA backend: where each lies and how many
// bytes the backend holds. Shared by the backend and its buffers
// (shared_ptr), so either may be destroyed first. Thread-safe: a buffer may
// be freed on another thread than the one running ops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

namespace floe::cuda {

class Allocations {
 public:
  struct Info {
    uintptr_t base = 0;
    size_t size = 0;
    uint64_t id = 0;  // unique per allocation, even at a reused address
  };

  void Add(const void* p, size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    by_base_[Key(p)] = Info{Key(p), size, ++next_id_};
    held_ += size;
  }
  void Remove(const void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_base_.find(Key(p));
    if (it == by_base_.end()) return;
    held_ -= it->second.size;
    by_base_.erase(it);
    ++frees_;
  }
  // Allocations freed so far: a CUDA graph captured when this was n may
  // point into freed memory once it is not n any more.
  uint64_t frees() const {
    std::lock_guard<std::mutex> lock(mu_);
    return frees_;
  }
  // The allocation that holds all of [p, p + bytes); nullopt when none does.
  std::optional<Info> Find(const void* p, size_t bytes) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_base_.upper_bound(Key(p));
    if (it == by_base_.begin()) return std::nullopt;
    --it;
    const Info& a = it->second;
    const uintptr_t begin = Key(p);
    if (begin >= a.base + a.size && !(bytes == 0 && begin == a.base)) return std::nullopt;
    if (bytes > a.base + a.size - begin) return std::nullopt;
    return a;
  }
  // The stream whose work a buffer waits for before it is freed (a
  // cudaStream_t; null once the backend is gone, after it waited itself).
  void set_stream(void* s) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = s;
  }
  void* stream() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stream_;
  }
  size_t held() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }

 private:
  static uintptr_t Key(const void* p) { return reinterpret_cast<uintptr_t>(p); }
  mutable std::mutex mu_;
  std::map<uintptr_t, Info> by_base_;
  size_t held_ = 0;
  void* stream_ = nullptr;
  uint64_t next_id_ = 0;
  uint64_t frees_ = 0;
};

}  // namespace floe::cuda
