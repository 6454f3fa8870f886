// ThreadPool implementation.
//
// Protocol. All scheduling state lives in one 64-bit word `work_`:
//   high 32 bits: the region's generation g, low 32 bits: next task index,
//   or kClosed while the caller is (re)configuring a region.
// A region runs as:
//   caller: work_ = (g+1, kClosed); fn_, n_tasks_ = ...; done_ = 0;
//           work_ = (g+1, 0)  [publish]; wake sleepers; run tasks; wait done_ == n.
//   anyone: claim task i by CAS(work_, (g, i), (g, i+1)) while i < n_tasks_.
// A CAS only succeeds while the word still holds the generation the claimer
// read fn_/n_tasks_ under, and the caller changes fn_/n_tasks_ only after it
// has closed the previous generation, so a late worker can never run a task
// of a finished region or mix two regions' parameters.
//
// Sleeping (no lost wake-ups): a worker that has spun long enough registers in
// sleepers_ (seq_cst) under mu_ and re-checks work_ before waiting on cv_. The
// caller publishes work_ (seq_cst) and then reads sleepers_ (seq_cst); if it is
// non-zero it notifies under mu_. In the single total order either the
// worker's re-check sees the new word, or the caller sees the registration and
// its notify happens after the worker is waiting (it needs mu_).
#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RS_CPU_RELAX() _mm_pause()
#else
#define RS_CPU_RELAX() \
  do {                 \
  } while (0)
#endif

namespace rs::kernels {
namespace {

constexpr uint32_t kClosed = 0xffffffffu;
// How long an idle worker spins before it sleeps.
constexpr std::chrono::microseconds kSpinTime(80);

inline uint64_t Pack(uint32_t gen, uint32_t index) {
  return (static_cast<uint64_t>(gen) << 32) | index;
}
inline uint32_t Gen(uint64_t w) { return static_cast<uint32_t>(w >> 32); }
inline uint32_t Index(uint64_t w) { return static_cast<uint32_t>(w); }

}  // namespace

struct ThreadPool::Impl {
  int n_threads = 1;
  std::vector<std::thread> workers;

  alignas(64) std::atomic<uint64_t> work{Pack(0, kClosed)};
  alignas(64) std::atomic<int> done{0};
  alignas(64) std::atomic<const std::function<void(int)>*> fn{nullptr};
  std::atomic<int> n_tasks{0};
  std::atomic<bool> stop{false};

  alignas(64) std::atomic<int> sleepers{0};
  std::mutex mu;
  std::condition_variable cv;

  // Claims and runs tasks of the region `w` was read from until none is left.
  // Returns the last value of work_ seen.
  uint64_t RunTasks(uint64_t w) {
    for (;;) {
      if (Index(w) == kClosed) return w;
      const int n = n_tasks.load(std::memory_order_relaxed);
      if (static_cast<int64_t>(Index(w)) >= n) return w;
      if (work.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        // Region Gen(w) cannot finish before this task does, so fn is its fn.
        (*fn.load(std::memory_order_relaxed))(static_cast<int>(Index(w)));
        done.fetch_add(1, std::memory_order_release);
        w = work.load(std::memory_order_acquire);
      }
      // On CAS failure `w` holds the current word: retry.
    }
  }

  void WorkerLoop() {
    uint64_t seen = work.load(std::memory_order_acquire);
    for (;;) {
      seen = RunTasks(seen);
      // Wait for work_ to change from `seen`.
      uint64_t w = seen;
      const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
      for (int spin = 0;; ++spin) {
        if (stop.load(std::memory_order_acquire)) return;
        w = work.load(std::memory_order_acquire);
        if (w != seen) break;
        RS_CPU_RELAX();
        if ((spin & 63) == 63 && std::chrono::steady_clock::now() > deadline) {
          std::unique_lock<std::mutex> lock(mu);
          sleepers.fetch_add(1, std::memory_order_seq_cst);
          while (!stop.load(std::memory_order_seq_cst) &&
                 (w = work.load(std::memory_order_seq_cst)) == seen) {
            cv.wait(lock);
          }
          sleepers.fetch_sub(1, std::memory_order_relaxed);
          if (stop.load(std::memory_order_acquire)) return;
          break;
        }
      }
      seen = w;
    }
  }

  void WakeSleepers() {
    if (sleepers.load(std::memory_order_seq_cst) > 0) {
      { std::lock_guard<std::mutex> lock(mu); }
      cv.notify_all();
    }
  }
};

ThreadPool::ThreadPool(int n_threads) : impl_(new Impl) {
  impl_->n_threads = std::max(1, n_threads);
  for (int i = 1; i < impl_->n_threads; ++i) {
    impl_->workers.emplace_back([this] { impl_->WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop.store(true, std::memory_order_seq_cst);
  }
  impl_->cv.notify_all();
  for (std::thread& t : impl_->workers) t.join();
  delete impl_;
}

int ThreadPool::size() const { return impl_->n_threads; }

void ThreadPool::ParallelFor(int n_tasks, const std::function<void(int task)>& fn) {
  if (n_tasks <= 0) return;
  if (n_tasks == 1 || impl_->workers.empty()) {
    for (int i = 0; i < n_tasks; ++i) fn(i);
    return;
  }
  Impl& s = *impl_;
  const uint32_t gen = Gen(s.work.load(std::memory_order_relaxed)) + 1;
  s.work.store(Pack(gen, kClosed), std::memory_order_seq_cst);
  s.fn.store(&fn, std::memory_order_relaxed);
  s.n_tasks.store(n_tasks, std::memory_order_relaxed);
  s.done.store(0, std::memory_order_relaxed);
  s.work.store(Pack(gen, 0), std::memory_order_seq_cst);  // publish
  s.WakeSleepers();

  s.RunTasks(Pack(gen, 0));
  for (int spin = 0; s.done.load(std::memory_order_acquire) < n_tasks; ++spin) {
    if (spin < 1 << 14) {
      RS_CPU_RELAX();
    } else {
      std::this_thread::yield();  // a worker was descheduled mid-task
    }
  }
}

void SplitRange(long n, int parts, int part, long align, long* begin, long* end) {
  if (parts < 1) parts = 1;
  if (align < 1) align = 1;
  const long units = (n + align - 1) / align;
  const long base = units / parts, extra = units % parts;
  const long u0 = part * base + std::min<long>(part, extra);
  const long u1 = u0 + base + (part < extra ? 1 : 0);
  *begin = std::min(n, u0 * align);
  *end = std::min(n, u1 * align);
}

}  // namespace rs::kernels
