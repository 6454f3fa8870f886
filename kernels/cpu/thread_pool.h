// ThreadPool: a fixed set of worker threads for data-parallel loops in the
// kernels. The calling thread takes part, so a pool of size n uses n-1
// workers. Workers spin briefly before sleeping, because a decode step runs
// ~100 short parallel regions and a futex wake-up per region costs more than
// the region itself.
//
// Thread-safety: ParallelFor may be called by one thread at a time (the
// engine thread). Tasks must not call ParallelFor on the same pool.
#pragma once

#include <functional>

namespace rs::kernels {

class ThreadPool {
 public:
  // REQUIRES: n_threads >= 1 (the caller counts as one).
  explicit ThreadPool(int n_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  int size() const;

  // Runs fn(task) for every task in [0, n_tasks) across the pool's threads
  // and returns when all have finished. Which thread runs which task is
  // unspecified, so a task's result must not depend on it.
  void ParallelFor(int n_tasks, const std::function<void(int task)>& fn);

 private:
  struct Impl;
  Impl* impl_;
};

// Splits [0, n) into `parts` contiguous ranges whose bounds are multiples of
// `align` (except the end); returns range `part` as [begin, end).
void SplitRange(long n, int parts, int part, long align, long* begin, long* end);

}  // namespace rs::kernels
