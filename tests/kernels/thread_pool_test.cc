#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace rs::kernels {
namespace {

// Runs ParallelFor and checks every task ran exactly once.
void ExpectEachTaskOnce(ThreadPool& pool, int n_tasks) {
  std::vector<std::atomic<int>> counts(n_tasks > 0 ? n_tasks : 1);
  for (auto& c : counts) c.store(0);
  pool.ParallelFor(n_tasks, [&](int task) {
    ASSERT_GE(task, 0);
    ASSERT_LT(task, n_tasks);
    counts[task].fetch_add(1, std::memory_order_relaxed);
  });
  for (int i = 0; i < n_tasks; ++i) ASSERT_EQ(counts[i].load(), 1) << "task " << i;
}

TEST(ThreadPoolTest, SizeCountsTheCaller) {
  EXPECT_EQ(ThreadPool(1).size(), 1);
  EXPECT_EQ(ThreadPool(3).size(), 3);
  EXPECT_EQ(ThreadPool(0).size(), 1);
}

TEST(ThreadPoolTest, EveryTaskRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    for (int n_tasks : {0, 1, 2, 3, 4, 5, 7, 16, 17, 64, 100, 1000, 4097}) {
      SCOPED_TRACE(::testing::Message() << "threads=" << threads << " n_tasks=" << n_tasks);
      ExpectEachTaskOnce(pool, n_tasks);
    }
  }
}

TEST(ThreadPoolTest, ManyShortRegionsBackToBack) {
  ThreadPool pool(2);
  std::atomic<long> sum{0};
  long expected = 0;
  for (int region = 0; region < 20000; ++region) {
    const int n = 1 + region % 5;
    pool.ParallelFor(n, [&](int task) { sum.fetch_add(task + 1, std::memory_order_relaxed); });
    expected += n * (n + 1) / 2;
  }
  EXPECT_EQ(sum.load(), expected);
}

TEST(ThreadPoolTest, WakesSleepingWorkers) {
  // Pauses longer than the spin time make the workers sleep; each region must
  // still complete with every task run once, and run on more than one thread.
  ThreadPool pool(3);
  bool saw_other_thread = false;
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::vector<std::thread::id> ids(64);
    std::atomic<int> count{0};
    pool.ParallelFor(64, [&](int task) {
      ids[task] = std::this_thread::get_id();
      // Long enough tasks that the sleeping workers wake and take some.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      count.fetch_add(1);
    });
    EXPECT_EQ(count.load(), 64);
    for (const auto& id : ids) saw_other_thread |= id != std::this_thread::get_id();
  }
  EXPECT_TRUE(saw_other_thread);
}

TEST(ThreadPoolTest, ResultsIndependentOfThreadCount) {
  std::vector<double> want(1000);
  for (int i = 0; i < 1000; ++i) want[i] = i * 0.5;
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    std::vector<double> got(1000, -1);
    pool.ParallelFor(1000, [&](int task) { got[task] = task * 0.5; });
    EXPECT_EQ(got, want);
  }
}

TEST(ThreadPoolTest, ConstructAndDestroyRepeatedly) {
  for (int i = 0; i < 200; ++i) {
    ThreadPool pool(1 + i % 4);
    if (i % 2 == 0) ExpectEachTaskOnce(pool, 9);
  }
}

TEST(SplitRangeTest, CoversRangeContiguouslyWithAlignedBounds) {
  for (long n : {0L, 1L, 7L, 24L, 100L, 3072L, 50280L}) {
    for (int parts : {1, 2, 3, 7, 16}) {
      for (long align : {1L, 4L, 24L}) {
        long prev_end = 0;
        for (int p = 0; p < parts; ++p) {
          long b, e;
          SplitRange(n, parts, p, align, &b, &e);
          EXPECT_EQ(b, prev_end) << n << " " << parts << " " << align << " " << p;
          EXPECT_LE(b, e);
          if (e != n) {
            EXPECT_EQ(e % align, 0);
          }
          prev_end = e;
        }
        EXPECT_EQ(prev_end, n);
      }
    }
  }
}

TEST(SplitRangeTest, BalancedWithinOneUnit) {
  long b0, e0, b1, e1;
  SplitRange(3072, 2, 0, 24, &b0, &e0);
  SplitRange(3072, 2, 1, 24, &b1, &e1);
  EXPECT_EQ(e0 - b0, 1536);
  EXPECT_EQ(e1 - b1, 1536);
  SplitRange(10, 3, 0, 1, &b0, &e0);
  EXPECT_EQ(e0 - b0, 4);
}

}  // namespace
}  // namespace rs::kernels
