// A fixed pool of worker threads with a FIFO task queue. Used for work that is
// not the encoder's math (tokenization, request fan-out); the CPU backend uses
// OpenMP for its own kernels so the two never share threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace floe {

class ThreadPool {
 public:
  // num_threads == 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(size_t num_threads = 0);
  // Finishes queued tasks, then joins.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Thread-safe. Tasks run in submission order on some worker.
  void Submit(std::function<void()> task);

  // Runs fn(i) for i in [0, n) across the pool and the calling thread; returns
  // when all are done. fn must not throw. Must not be called from a pool thread.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

  size_t size() const { return threads_.size(); }

 private:
  void WorkerLoop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::queue<std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace floe
