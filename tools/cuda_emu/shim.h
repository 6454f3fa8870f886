// The CUDA device side on the host, for tools/cuda_emu (see README.md): the
// kernels of kernels/cuda/*.cu, converted by gen.sh, compile as plain C++
// against this header (reached through fake/cuda_runtime.h).
//
// Contract:
//   * Launch(kernel, grid, block, args...) (what gen.sh makes of
//     `kernel<<<grid, block, 0, stream>>>(args...)`) runs the grid's blocks
//     one after another; each thread of a block is a fiber (ucontext), run
//     round-robin until it reaches a barrier. A launch is enqueued on "the"
//     stream (emu::Enqueue): run at once, or recorded while a graph is being
//     captured. A bad configuration (a zero or too large grid or block) is
//     not run and sets the error cudaGetLastError returns, as on a GPU.
//   * __syncthreads waits for every thread of the block; __shfl_*_sync for
//     all lanes of the warp (the mask is not checked: full warps only).
//     A barrier that can never complete (a thread exited before it) aborts.
//   * __shared__ variables are static: one copy that every block reuses
//     (blocks never overlap), not reset between blocks.
//   * 1-D blocks only (threadIdx.y == threadIdx.z == 0); grids up to 3-D.
#pragma once
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

using std::max;
using std::min;

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __restrict__
#define __ldg(p) (*(p))

namespace emu {

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = false;
  dim3 tid{0, 0, 0};
};

struct Barrier {
  int n = 0;      // participants
  int count = 0;  // arrived in this phase
  long phase = 0;
};

// The block being run.
struct State {
  ucontext_t sched;
  std::vector<Fiber> fibers;
  int cur = -1;
  dim3 block{0, 0, 0}, bdim, gdim;
  Barrier block_bar;
  std::vector<Barrier> warp_bars;
  std::vector<uint64_t> lanes;  // one slot per thread for warp shuffles
  long progress = 0;            // barrier arrivals + finished threads
  std::function<void()> body;
};
inline State g;

// The error of the last launch (cudaGetLastError returns and clears it).
inline int last_error = 0;
inline constexpr int kErrorInvalidConfiguration = 9;  // cudaErrorInvalidConfiguration

// CUDA graph capture: while a stream is being captured, kernel launches,
// async copies and GEMMs are recorded (arguments by value, as a graph holds
// them) instead of run; a graph launch replays them in order.
inline bool capturing = false;
inline std::vector<std::function<void()>> recorded;
inline int capture_violations = 0;
inline long graph_launches = 0;

template <typename F>
void Enqueue(F f) {
  if (capturing) {
    recorded.emplace_back(std::move(f));
  } else {
    f();
  }
}

// An API call that a real capture (cudaStreamCaptureModeThreadLocal) refuses:
// counted, reported, and the caller returns an error.
inline bool CaptureViolation(const char* what) {
  if (!capturing) return false;
  ++capture_violations;
  std::fprintf(stderr, "emu: %s during stream capture\n", what);
  return true;
}

inline void Yield() { swapcontext(&g.fibers[g.cur].ctx, &g.sched); }

inline void Wait(Barrier& b) {
  ++g.progress;
  const long ph = b.phase;
  if (++b.count == b.n) {
    b.count = 0;
    ++b.phase;
  } else {
    while (b.phase == ph) Yield();
  }
}

inline void Entry() {
  g.body();
  g.fibers[g.cur].done = true;
  ++g.progress;
}

// Every lane of the calling thread's warp passes v; returns the v of lane
// src_lane of the same warp (its own v when src_lane is outside the warp).
template <typename T>
T WarpExchange(T v, int src_lane) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(uint64_t));
  const int t = static_cast<int>(g.fibers[g.cur].tid.x), w = t / 32;
  std::memcpy(&g.lanes[t], &v, sizeof(T));
  Wait(g.warp_bars[w]);
  const int src = w * 32 + src_lane;
  T r = v;
  if (src_lane >= 0 && src_lane < 32 && src < static_cast<int>(g.lanes.size())) {
    std::memcpy(&r, &g.lanes[src], sizeof(T));
  }
  Wait(g.warp_bars[w]);
  return r;
}

inline bool BadConfig(const dim3& grid, const dim3& block) {
  const unsigned long long nt = 1ull * block.x * block.y * block.z;
  return grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 ||
         grid.z > 65535 || nt == 0 || nt > 1024 || block.z > 64;
}

template <typename F, typename... A>
void RunGrid(F kernel, dim3 grid, dim3 block, A... args) {
  const unsigned nt = block.x;
  if (block.y != 1 || block.z != 1) {
    std::fprintf(stderr, "emu: 1-D blocks only\n");
    std::abort();
  }
  g.bdim = {block.x, 1, 1};
  g.gdim = grid;
  if (g.fibers.size() < nt) g.fibers.resize(nt);
  g.lanes.assign(nt, 0);
  g.body = [&] { kernel(args...); };
  for (unsigned z = 0; z < grid.z; ++z) {
    for (unsigned y = 0; y < grid.y; ++y) {
      for (unsigned x = 0; x < grid.x; ++x) {
        g.block = {x, y, z};
        g.block_bar = Barrier{static_cast<int>(nt), 0, 0};
        g.warp_bars.assign((nt + 31) / 32, Barrier{});
        for (unsigned w = 0; w < g.warp_bars.size(); ++w) {
          g.warp_bars[w].n = static_cast<int>(std::min(32u, nt - 32 * w));
        }
        for (unsigned t = 0; t < nt; ++t) {
          Fiber& f = g.fibers[t];
          if (f.stack.empty()) f.stack.resize(256 * 1024);
          f.done = false;
          f.tid = {t, 0, 0};
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = f.stack.data();
          f.ctx.uc_stack.ss_size = f.stack.size();
          f.ctx.uc_link = &g.sched;
          makecontext(&f.ctx, Entry, 0);
        }
        for (bool live = true; live;) {
          live = false;
          const long before = g.progress;
          for (unsigned t = 0; t < nt; ++t) {
            if (g.fibers[t].done) continue;
            g.cur = static_cast<int>(t);
            swapcontext(&g.sched, &g.fibers[t].ctx);
            live = true;
          }
          if (live && g.progress == before) {
            std::fprintf(stderr,
                         "emu: deadlock in block (%u,%u,%u) of a %u-thread launch: a barrier "
                         "(__syncthreads or a warp shuffle) that some threads never reach\n",
                         x, y, z, nt);
            std::abort();
          }
        }
      }
    }
  }
  g.body = nullptr;
}

}  // namespace emu

#define threadIdx (emu::g.fibers[emu::g.cur].tid)
#define blockIdx (emu::g.block)
#define blockDim (emu::g.bdim)
#define gridDim (emu::g.gdim)

inline void __syncthreads() { emu::Wait(emu::g.block_bar); }

template <typename T>
T __shfl_xor_sync(unsigned /*mask*/, T v, int lane_mask) {
  return emu::WarpExchange(v, static_cast<int>(threadIdx.x % 32) ^ lane_mask);
}
template <typename T>
T __shfl_down_sync(unsigned /*mask*/, T v, unsigned delta) {
  return emu::WarpExchange(v, static_cast<int>(threadIdx.x % 32 + delta));  // own v past lane 31
}
template <typename T>
T __shfl_sync(unsigned /*mask*/, T v, int src_lane) {
  return emu::WarpExchange(v, src_lane % 32);
}

inline float __uint_as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t __float_as_uint(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// kernel<<<grid, block, 0, stream>>>(args...), as gen.sh rewrites it.
template <typename F, typename... A>
void Launch(F kernel, dim3 grid, dim3 block, A... args) {
  if (emu::BadConfig(grid, block)) {
    emu::last_error = emu::kErrorInvalidConfiguration;
    return;
  }
  emu::Enqueue([=] { emu::RunGrid(kernel, grid, block, args...); });
}
