#include "kernels/cuda/mamba2_ops.h"

namespace rs::kernels::cuda {
namespace {

// Mamba2Scan's blocks: kScanWarps warps of kRowsPerWarp state rows each.
constexpr int kScanWarps = 4;
constexpr int kRowsPerWarp = 4;
constexpr int kRowsPerBlock = kScanWarps * kRowsPerWarp;
constexpr int kNormThreads = 256;

// dt = clamp(softplus(raw + bias), lo, hi), softplus as torch (threshold 20);
// hi may be +inf.
__device__ __forceinline__ float DtOf(float raw, float bias, float lo, float hi) {
  const float v = raw + bias;
  const float sp = v > 20.0f ? v : log1pf(expf(v));
  return fminf(fmaxf(sp, lo), hi);
}

// The sum over the warp's 32 lanes, in a fixed order (every lane gets the
// same bits: each butterfly stage adds the same two values on both sides).
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One token's inputs as a lane of SsdScanKernel needs them.
template <int kV>
struct TokenInputs {
  float raw;              // dt before its bias
  float x[kRowsPerWarp];  // x of the warp's rows (0 past P)
  float b[kV], c[kV];     // B and C of the lane's columns (0 past N)
};

// Loads token t's inputs: rows p0 + r of head h (xh = x + h*P + p0), columns
// n = lane + 32 k of group g (Bg = B + g*N, Cg = C + g*N).
template <int kV>
__device__ __forceinline__ void LoadToken(TokenInputs<kV>& in, int64_t t, const float* dth,
                                          int64_t ldd, const float* xh, int64_t ldx, int rows,
                                          const float* Bg, const float* Cg, int64_t ldbc, int lane,
                                          int64_t N) {
  in.raw = dth[t * ldd];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) in.x[r] = r < rows ? xh[t * ldx + r] : 0.0f;
#pragma unroll
  for (int k = 0; k < kV; ++k) {
    const int64_t n = lane + 32 * k;
    in.b[k] = n < N ? Bg[t * ldbc + n] : 0.0f;
    in.c[k] = n < N ? Cg[t * ldbc + n] : 0.0f;
  }
}

// Grid (ceil(P / kRowsPerBlock), H, n_seq); kScanWarps * 32 threads. Warp w
// of block (bx, h, s) owns state rows p0 + r, p0 = bx * kRowsPerBlock +
// w * kRowsPerWarp, r < kRowsPerWarp (and p0 + r < P); lane l owns columns
// n = l + 32 k, k < kV (and n < N). Its part of the state stays in
// registers through the sequence's tokens; columns n >= N hold zeros and add
// zeros. kV = ceil(N / 32) rounded up to 1, 2, 4 or 8. The inputs of token
// t + 1 are loaded while token t computes (only the order of loads changes,
// never the arithmetic: a chunk still equals its single steps bitwise).
template <int kV>
__global__ void __launch_bounds__(kScanWarps * 32)
    SsdScanKernel(SsdParams q, const float* x, int64_t ldx, const float* B, const float* C,
                  int64_t ldbc, const float* dt, int64_t ldd, const int32_t* row_starts,
                  float* const* slots, int64_t ssm_off, float* y, int64_t ldy, int64_t skip_from) {
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  const int64_t h = blockIdx.y;
  const int s = static_cast<int>(blockIdx.z);
  const int64_t P = q.P, N = q.N;
  const int64_t g = h / (q.H / q.G);
  const int64_t p0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + warp * kRowsPerWarp;
  if (p0 >= P) return;  // the whole warp (p0 is warp-uniform)
  if (skip_from > 0 && row_starts[s + 1] - row_starts[s] >= skip_from) return;  // the whole block
  const int rows = static_cast<int>(P - p0 < kRowsPerWarp ? P - p0 : kRowsPerWarp);

  // S: (H, P, N); this warp's rows start at (h, p0).
  float* S = slots[s] + ssm_off + (h * P + p0) * N;
  float st[kRowsPerWarp][kV];
  float Dp[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    Dp[r] = r < rows ? q.D[h * P + p0 + r] : 0.0f;
#pragma unroll
    for (int k = 0; k < kV; ++k) {
      const int64_t n = lane + 32 * k;
      st[r][k] = r < rows && n < N ? S[r * N + n] : 0.0f;
    }
  }
  const float bias = q.dt_bias[h], a = q.A[h];
  const float* dth = dt + h;         // token t's raw dt at dth + t * ldd
  const float* xh = x + h * P + p0;  // token t's rows at xh + t * ldx
  const float* Bg = B + g * N;       // token t's B at Bg + t * ldbc
  const float* Cg = C + g * N;
  float* yh = y + h * P + p0;
  int64_t t = row_starts[s];
  const int64_t t1 = row_starts[s + 1];
  TokenInputs<kV> cur;
  if (t < t1) LoadToken(cur, t, dth, ldd, xh, ldx, rows, Bg, Cg, ldbc, lane, N);
  for (; t < t1; ++t) {
    TokenInputs<kV> next = cur;
    if (t + 1 < t1) LoadToken(next, t + 1, dth, ldd, xh, ldx, rows, Bg, Cg, ldbc, lane, N);
    const float d = DtOf(cur.raw, bias, q.dt_min, q.dt_max);
    const float dA = expf(d * a);
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      if (r >= rows) break;  // warp-uniform
      const float xv = cur.x[r];
      const float xs = d * xv;
      float acc = 0.0f;
#pragma unroll
      for (int k = 0; k < kV; ++k) {
        st[r][k] = fmaf(st[r][k], dA, xs * cur.b[k]);
        acc = fmaf(st[r][k], cur.c[k], acc);
      }
      acc = WarpSum(acc);
      if (lane == 0) yh[t * ldy + r] = fmaf(Dp[r], xv, acc);
    }
    cur = next;
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
#pragma unroll
    for (int k = 0; k < kV; ++k) {
      const int64_t n = lane + 32 * k;
      if (r < rows && n < N) S[r * N + n] = st[r][k];
    }
  }
}

// Grid (M, G), kNormThreads threads: block (m, g) normalizes group g of row
// m. Thread i owns channels i, i + kNormThreads, ... of the group in both
// loops, so out may alias y.
__global__ void __launch_bounds__(kNormThreads)
    GatedRmsNormKernel(const float* y, int64_t ldy, const float* z, int64_t ldz, int64_t Eg,
                       const float* w, float eps, float* out, int64_t ldo) {
  const int64_t m = blockIdx.x, g = blockIdx.y;
  const float* yr = y + m * ldy + g * Eg;
  const float* zr = z + m * ldz + g * Eg;
  const float* wg = w + g * Eg;
  float* o = out + m * ldo + g * Eg;
  float acc = 0.0f;
  for (int64_t c = threadIdx.x; c < Eg; c += kNormThreads) {
    const float zv = zr[c];
    const float v = yr[c] * (zv * (1.0f / (1.0f + expf(-zv))));  // y * silu(z)
    o[c] = v;
    acc = fmaf(v, v, acc);
  }
  // Block sum of the squares (fixed order), then the scale.
  __shared__ float part[kNormThreads / 32];
  acc = WarpSum(acc);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = acc;
  __syncthreads();
  float total = 0.0f;
#pragma unroll
  for (int i = 0; i < kNormThreads / 32; ++i) total += part[i];
  const float scale = 1.0f / sqrtf(total / static_cast<float>(Eg) + eps);
  for (int64_t c = threadIdx.x; c < Eg; c += kNormThreads) o[c] = o[c] * scale * wg[c];
}

// Mamba2ScanChunked: 64 × 64 output tiles of 256 threads, thread (ty, tx) =
// (tid / 16, tid % 16) owning rows ty + 16 i and columns tx + 16 j, i, j < 4.
constexpr int kChunkThreads = 256;
constexpr int kTile = 64;   // rows and columns of an output tile
constexpr int kSub = 16;    // threads per tile row / column
constexpr int kPer = 4;     // outputs per thread per dimension (kTile / kSub)
constexpr int kKStep = 32;  // the reduction dimension staged per step
constexpr int kPad = kTile + 1;

// acc[i][j] += Σ_{k < K} a(ty + kSub·i, k) · b(k, tx + kSub·j): a thread's kPer × kPer
// register tile of the product of two tiles in shared memory, read through a(row, k) and
// b(k, column).
template <int K, typename A, typename B>
__device__ __forceinline__ void TileFma(float (&acc)[kPer][kPer], int ty, int tx, const A& a_at,
                                        const B& b_at) {
#pragma unroll 4
  for (int k = 0; k < K; ++k) {
    float a[kPer], b[kPer];
#pragma unroll
    for (int i = 0; i < kPer; ++i) a[i] = a_at(ty + kSub * i, k);
#pragma unroll
    for (int j = 0; j < kPer; ++j) b[j] = b_at(k, tx + kSub * j);
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
#pragma unroll
      for (int j = 0; j < kPer; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
}

// Where the tensors of one Mamba2ScanChunked call live in its scratch. The
// step's chunks are numbered in row order, the sequences below min_tokens
// having none: sequence s owns chunks [first[s], first[s + 1]).
struct ChunkScratch {
  float* states;   // (chunks, H, P, N): per chunk its own state, then the state entering it
  float* dtv;      // (M, H): the clamped dt
  double* cum;     // (M, H): Σ dt A from the row's chunk start, inclusive
  int32_t* first;  // (n_seq + 1): each sequence's first chunk
};

// At most this many chunks: ceil(T / L) <= T / L + 1 per sequence.
inline int64_t ChunkSlots(int64_t M, int n_seq, int64_t L) { return (M + L - 1) / L + n_seq; }

// cum (M × H doubles), dtv (M × H), states, first.
inline ChunkScratch ScratchOf(void* base, const SsdParams& q, int64_t M, int n_seq, int64_t L) {
  ChunkScratch c;
  char* p = static_cast<char*>(base);
  c.cum = reinterpret_cast<double*>(p);  // first: 8-byte aligned
  c.dtv = reinterpret_cast<float*>(p + M * q.H * sizeof(double));
  c.states = c.dtv + M * q.H;
  c.first = reinterpret_cast<int32_t*>(c.states + ChunkSlots(M, n_seq, L) * q.H * q.P * q.N);
  return c;
}

// One thread: first[s] = Σ_{s' < s} ceil(T_s' / L) over the sequences of at
// least min_tokens (and at least one) rows.
__global__ void ChunkIndexKernel(const int32_t* row_starts, int n_seq, int64_t L,
                                 int64_t min_tokens, int32_t* first) {
  int64_t k = 0;
  for (int s = 0; s < n_seq; ++s) {
    first[s] = static_cast<int32_t>(k);
    const int64_t T = row_starts[s + 1] - row_starts[s];
    if (T >= min_tokens && T > 0) k += (T + L - 1) / L;
  }
  first[n_seq] = static_cast<int32_t>(k);
}

// Chunk k of the step: its sequence s, its rows [r0, r1) (r1 <= r0: k is
// past the step's last chunk).
struct ChunkRows {
  int64_t r0, r1;
  int s;
};
__device__ __forceinline__ ChunkRows ChunkOf(const int32_t* row_starts, const int32_t* first,
                                             int n_seq, int64_t k, int64_t L) {
  ChunkRows r;
  r.s = 0;
  r.r0 = r.r1 = 0;
  if (k >= first[n_seq]) return r;
  int lo = 0, hi = n_seq - 1;  // the last s with first[s] <= k (it has chunks: k < first[s + 1])
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (first[mid] <= k) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int64_t e = row_starts[lo + 1];
  r.s = lo;
  r.r0 = row_starts[lo] + (k - first[lo]) * L;
  r.r1 = r.r0 + L < e ? r.r0 + L : e;
  return r;
}

// Grid (chunks), kChunkThreads threads: thread i of block k walks chunk k
// for heads h = i, i + kChunkThreads, ...
__global__ void __launch_bounds__(kChunkThreads)
    ChunkDecayKernel(SsdParams q, const float* dt, int64_t ldd, const int32_t* row_starts,
                     int n_seq, int64_t L, float* dtv, double* cum, const int32_t* first) {
  const ChunkRows cr = ChunkOf(row_starts, first, n_seq, blockIdx.x, L);
  for (int64_t h = threadIdx.x; h < q.H; h += kChunkThreads) {
    const float bias = q.dt_bias[h];
    const double a = q.A[h];
    double run = 0.0;
    for (int64_t t = cr.r0; t < cr.r1; ++t) {
      const float d = DtOf(dt[t * ldd + h], bias, q.dt_min, q.dt_max);
      run += static_cast<double>(d) * a;
      dtv[t * q.H + h] = d;
      cum[t * q.H + h] = run;
    }
  }
}

// Grid (chunks * ceil(P / kTile) * ceil(N / kTile), H): block (chunk k,
// tile (p0, n0)) of head h writes that tile of the chunk's own state
// Σ_l exp(cum[last] - cum[l]) dt_l x_l ⊗ B_l.
__global__ void __launch_bounds__(kChunkThreads)
    ChunkStateKernel(SsdParams q, const float* x, int64_t ldx, const float* B, int64_t ldbc,
                     const int32_t* row_starts, int n_seq, int64_t L, ChunkScratch sc) {
  const int64_t P = q.P, N = q.N, H = q.H, h = blockIdx.y;
  const int64_t pt = (P + kTile - 1) / kTile, nt = (N + kTile - 1) / kTile;
  const int64_t k = blockIdx.x / (pt * nt), tile = blockIdx.x % (pt * nt);
  const int64_t p0 = tile / nt * kTile, n0 = tile % nt * kTile;
  const ChunkRows cr = ChunkOf(row_starts, sc.first, n_seq, k, L);
  if (cr.r1 <= cr.r0) return;  // the whole block
  const int64_t g = h / (H / q.G);
  const int tid = static_cast<int>(threadIdx.x), ty = tid / kSub, tx = tid % kSub;
  __shared__ float xs[kKStep][kTile];  // w_l x[l, p0 + i]
  __shared__ float bs[kKStep][kTile];  // B[l, n0 + j]
  __shared__ float ws[kKStep];         // w_l = exp(cum[last] - cum[l]) dt_l
  const double cum_last = sc.cum[(cr.r1 - 1) * H + h];
  float acc[kPer][kPer] = {};
  for (int64_t l0 = cr.r0; l0 < cr.r1; l0 += kKStep) {
    if (tid < kKStep) {
      const int64_t t = l0 + tid;
      ws[tid] = t < cr.r1
                    ? expf(static_cast<float>(cum_last - sc.cum[t * H + h])) * sc.dtv[t * H + h]
                    : 0.0f;
    }
    __syncthreads();
    for (int e = tid; e < kKStep * kTile; e += kChunkThreads) {
      const int l = e / kTile, i = e % kTile;
      const int64_t t = l0 + l;
      const bool in_t = t < cr.r1;
      xs[l][i] = in_t && p0 + i < P ? ws[l] * x[t * ldx + h * P + p0 + i] : 0.0f;
      bs[l][i] = in_t && n0 + i < N ? B[t * ldbc + g * N + n0 + i] : 0.0f;
    }
    __syncthreads();
    TileFma<kKStep>(
        acc, ty, tx, [&](int r, int l) { return xs[l][r]; },
        [&](int l, int c) { return bs[l][c]; });
    __syncthreads();
  }
  float* st = sc.states + (k * H + h) * P * N;
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int64_t p = p0 + ty + kSub * i;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t n = n0 + tx + kSub * j;
      if (p < P && n < N) st[p * N + n] = acc[i][j];
    }
  }
}

// Grid (ceil(P N / kChunkThreads), H, n_seq): thread e of head h, sequence s
// carries state element e through the sequence's chunks: each chunk's slot
// in sc.states changes from the chunk's own state to the state entering it;
// the state after the last chunk goes to the slot.
__global__ void __launch_bounds__(kChunkThreads)
    ChunkStatePassKernel(SsdParams q, const int32_t* row_starts, int64_t L, float* const* slots,
                         int64_t ssm_off, ChunkScratch sc) {
  const int64_t PN = q.P * q.N, H = q.H, h = blockIdx.y;
  const int s = static_cast<int>(blockIdx.z);
  const int64_t e = static_cast<int64_t>(blockIdx.x) * kChunkThreads + threadIdx.x;
  const int64_t k0 = sc.first[s], k1 = sc.first[s + 1];
  if (e >= PN || k0 == k1) return;  // no chunks: below min_tokens
  float* S = slots[s] + ssm_off + h * PN + e;
  float v = *S;
  const int64_t b = row_starts[s], end = row_starts[s + 1];
  for (int64_t k = k0; k < k1; ++k) {
    const int64_t last = b + (k - k0 + 1) * L < end ? b + (k - k0 + 1) * L - 1 : end - 1;
    float* own = sc.states + (k * H + h) * PN + e;
    const float add = *own;
    *own = v;
    v = fmaf(static_cast<float>(exp(sc.cum[last * H + h])), v, add);
  }
  *S = v;
}

// Grid (chunks * ceil(L / kTile) * ceil(P / kTile), H): block (chunk k,
// rows l0.., channels p0..) of head h writes that tile of y: exp(cum[l]) C_l · S_in[p] + Σ_{s<=l}
// W[l, s] x[s, p] + D[p] x[l, p], W = (C_l · B_s) exp(cum[l] - cum[s]) dt_s, 64 tokens s at a time.
__global__ void __launch_bounds__(kChunkThreads)
    ChunkOutputKernel(SsdParams q, const float* x, int64_t ldx, const float* B, const float* C,
                      int64_t ldbc, const int32_t* row_starts, int n_seq, int64_t L,
                      ChunkScratch sc, float* y, int64_t ldy) {
  const int64_t P = q.P, N = q.N, H = q.H, h = blockIdx.y;
  const int64_t lt = (L + kTile - 1) / kTile, pt = (P + kTile - 1) / kTile;
  const int64_t kc = blockIdx.x / (lt * pt), rest = blockIdx.x % (lt * pt);
  const int64_t l0 = rest / pt * kTile, p0 = rest % pt * kTile;  // l0: from the chunk start
  const ChunkRows cr = ChunkOf(row_starts, sc.first, n_seq, kc, L);
  if (cr.r0 + l0 >= cr.r1) return;  // the whole block (no rows of this tile)
  const int64_t g = h / (H / q.G);
  const int tid = static_cast<int>(threadIdx.x), ty = tid / kSub, tx = tid % kSub;
  const int64_t Lc = cr.r1 - cr.r0;
  const float* xh = x + cr.r0 * ldx + h * P;  // chunk row l at xh + l * ldx
  const float* Bg = B + cr.r0 * ldbc + g * N;
  const float* Cg = C + cr.r0 * ldbc + g * N;
  // Staging, reused by the three products: C (64 × 32) with S_inᵀ (32 × 64)
  // or Bᵀ's rows (64 × 32); then x (64 × 64).
  __shared__ float stage[2 * kTile * (kKStep + 1)];
  float(*cs)[kKStep + 1] = reinterpret_cast<float(*)[kKStep + 1]>(stage);
  float(*bs)[kKStep + 1] = reinterpret_cast<float(*)[kKStep + 1]>(stage + kTile * (kKStep + 1));
  float(*ss)[kPad] = reinterpret_cast<float(*)[kPad]>(stage + kTile * (kKStep + 1));
  float(*xs)[kPad] = reinterpret_cast<float(*)[kPad]>(stage);
  __shared__ float ws[kTile][kPad];
  __shared__ double cum_l[kTile], cum_s[kTile];
  __shared__ float dt_s[kTile];
  if (tid < kTile) {
    const int64_t l = l0 + tid;
    cum_l[tid] = l < Lc ? sc.cum[(cr.r0 + l) * H + h] : 0.0;
  }

  // acc = C_l · S_in[p] over n, 32 at a time, then times exp(cum[l]).
  float acc[kPer][kPer] = {};
  const float* Sin = sc.states + (kc * H + h) * P * N;
  for (int64_t k0 = 0; k0 < N; k0 += kKStep) {
    for (int e = tid; e < kTile * kKStep; e += kChunkThreads) {
      const int r = e / kKStep, k = e % kKStep;
      const int64_t l = l0 + r, n = k0 + k, p = p0 + r;
      cs[r][k] = l < Lc && n < N ? Cg[l * ldbc + n] : 0.0f;
      ss[k][r] = p < P && n < N ? Sin[p * N + n] : 0.0f;
    }
    __syncthreads();
    TileFma<kKStep>(
        acc, ty, tx, [&](int r, int k) { return cs[r][k]; },
        [&](int k, int c) { return ss[k][c]; });
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const float od = static_cast<float>(exp(cum_l[ty + kSub * i]));
#pragma unroll
    for (int j = 0; j < kPer; ++j) acc[i][j] *= od;
  }

  // The intra-chunk part, token tiles s0 = 0, 64, ..., l0.
  for (int64_t s0 = 0; s0 <= l0; s0 += kTile) {
    if (tid < kTile) {
      const int64_t sr = s0 + tid;
      cum_s[tid] = sr < Lc ? sc.cum[(cr.r0 + sr) * H + h] : 0.0;
      dt_s[tid] = sr < Lc ? sc.dtv[(cr.r0 + sr) * H + h] : 0.0f;
    }
    // cb[i][j] = C_l · B_s, l = l0 + ty + 16 i, s = s0 + tx + 16 j.
    float cb[kPer][kPer] = {};
    for (int64_t k0 = 0; k0 < N; k0 += kKStep) {
      for (int e = tid; e < kTile * kKStep; e += kChunkThreads) {
        const int r = e / kKStep, k = e % kKStep;
        const int64_t n = k0 + k;
        cs[r][k] = l0 + r < Lc && n < N ? Cg[(l0 + r) * ldbc + n] : 0.0f;
        bs[r][k] = s0 + r < Lc && n < N ? Bg[(s0 + r) * ldbc + n] : 0.0f;
      }
      __syncthreads();
      TileFma<kKStep>(
          cb, ty, tx, [&](int r, int k) { return cs[r][k]; },
          [&](int k, int c) { return bs[c][k]; });
      __syncthreads();
    }
    // W = cb ∘ decay ∘ dt_s on s <= l (both in the chunk), else 0.
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int li = ty + kSub * i;
#pragma unroll
      for (int j = 0; j < kPer; ++j) {
        const int sj = tx + kSub * j;
        const int64_t l = l0 + li, sr = s0 + sj;
        float w = 0.0f;
        if (sr <= l && l < Lc) {
          w = cb[i][j] * expf(static_cast<float>(cum_l[li] - cum_s[sj])) * dt_s[sj];
        }
        ws[li][sj] = w;
      }
    }
    for (int e = tid; e < kTile * kTile; e += kChunkThreads) {
      const int r = e / kTile, i = e % kTile;
      const int64_t sr = s0 + r, p = p0 + i;
      xs[r][i] = sr < Lc && p < P ? xh[sr * ldx + p] : 0.0f;
    }
    __syncthreads();
    TileFma<kTile>(
        acc, ty, tx, [&](int r, int k) { return ws[r][k]; },
        [&](int k, int c) { return xs[k][c]; });
    __syncthreads();
  }

  // y = acc + D x.
#pragma unroll
  for (int i = 0; i < kPer; ++i) {
    const int64_t l = l0 + ty + kSub * i;
    if (l >= Lc) continue;
#pragma unroll
    for (int j = 0; j < kPer; ++j) {
      const int64_t p = p0 + tx + kSub * j;
      if (p < P)
        y[(cr.r0 + l) * ldy + h * P + p] = fmaf(q.D[h * P + p], xh[l * ldx + p], acc[i][j]);
    }
  }
}

}  // namespace

cudaError_t Mamba2Scan(const SsdParams& p, const float* x, int64_t ldx, const float* B,
                       const float* C, int64_t ldbc, const float* dt, int64_t ldd,
                       const int32_t* row_starts, int n_seq, float* const* slots, int64_t ssm_off,
                       float* y, int64_t ldy, cudaStream_t stream, int64_t skip_from) {
  if (n_seq <= 0 || p.H <= 0 || p.P <= 0) return cudaSuccess;
  if (p.N < 1 || p.N > kMamba2MaxState || p.G < 1 || p.H % p.G != 0) return cudaErrorInvalidValue;
  if (n_seq > 65535 || p.H > 65535) return cudaErrorInvalidValue;  // grid y / z limits
  const dim3 grid(static_cast<unsigned>((p.P + kRowsPerBlock - 1) / kRowsPerBlock),
                  static_cast<unsigned>(p.H), static_cast<unsigned>(n_seq));
  const dim3 block(kScanWarps * 32);
#define RS_SSD_SCAN(V)                                                                            \
  SsdScanKernel<V><<<grid, block, 0, stream>>>(p, x, ldx, B, C, ldbc, dt, ldd, row_starts, slots, \
                                               ssm_off, y, ldy, skip_from)
  if (p.N <= 32) {
    RS_SSD_SCAN(1);
  } else if (p.N <= 64) {
    RS_SSD_SCAN(2);
  } else if (p.N <= 128) {
    RS_SSD_SCAN(4);
  } else {
    RS_SSD_SCAN(8);
  }
#undef RS_SSD_SCAN
  return cudaGetLastError();
}

cudaError_t Mamba2GatedRmsNorm(const float* y, int64_t ldy, const float* z, int64_t ldz, int64_t M,
                               int64_t E, int64_t G, const float* w, float eps, float* out,
                               int64_t ldo, cudaStream_t stream) {
  if (M <= 0 || E <= 0) return cudaSuccess;
  if (G < 1 || E % G != 0 || G > 65535) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(M), static_cast<unsigned>(G));
  GatedRmsNormKernel<<<grid, kNormThreads, 0, stream>>>(y, ldy, z, ldz, E / G, w, eps, out, ldo);
  return cudaGetLastError();
}

size_t Mamba2ChunkedScratchBytes(const SsdParams& p, int64_t M, int n_seq, int64_t chunk) {
  if (M <= 0 || n_seq <= 0 || chunk < 1) return 0;
  const int64_t rows = M * p.H, states = ChunkSlots(M, n_seq, chunk) * p.H * p.P * p.N;
  return static_cast<size_t>(rows) * (sizeof(double) + sizeof(float)) +
         static_cast<size_t>(states) * sizeof(float) +
         static_cast<size_t>(n_seq + 1) * sizeof(int32_t);
}

cudaError_t Mamba2ScanChunked(const SsdParams& p, const float* x, int64_t ldx, const float* B,
                              const float* C, int64_t ldbc, const float* dt, int64_t ldd,
                              const int32_t* row_starts, int n_seq, int64_t M, int64_t chunk,
                              int64_t min_tokens, float* const* slots, int64_t ssm_off, float* y,
                              int64_t ldy, void* scratch, cudaStream_t stream) {
  if (n_seq <= 0 || M <= 0 || p.H <= 0 || p.P <= 0) return cudaSuccess;
  if (p.N < 1 || p.N > kMamba2MaxState || p.G < 1 || p.H % p.G != 0 || chunk < 1) {
    return cudaErrorInvalidValue;
  }
  if (n_seq > 65535 || p.H > 65535) return cudaErrorInvalidValue;  // grid y / z limits
  const int64_t L = chunk, chunks = ChunkSlots(M, n_seq, L);       // at most; the rest exit at once
  const int64_t pt = (p.P + kTile - 1) / kTile, nt = (p.N + kTile - 1) / kTile;
  const int64_t lt = (L + kTile - 1) / kTile;
  if (chunks * pt * (nt > lt ? nt : lt) > 0x7fffffff) return cudaErrorInvalidValue;  // grid x
  const ChunkScratch sc = ScratchOf(scratch, p, M, n_seq, L);
  const dim3 one(1);
  ChunkIndexKernel<<<one, one, 0, stream>>>(row_starts, n_seq, L, min_tokens, sc.first);
  const dim3 block(kChunkThreads);
  const dim3 decay_grid(static_cast<unsigned>(chunks));
  ChunkDecayKernel<<<decay_grid, block, 0, stream>>>(p, dt, ldd, row_starts, n_seq, L, sc.dtv,
                                                     sc.cum, sc.first);
  const dim3 state_grid(static_cast<unsigned>(chunks * pt * nt), static_cast<unsigned>(p.H));
  ChunkStateKernel<<<state_grid, block, 0, stream>>>(p, x, ldx, B, ldbc, row_starts, n_seq, L, sc);
  const dim3 pass_grid(static_cast<unsigned>((p.P * p.N + kChunkThreads - 1) / kChunkThreads),
                       static_cast<unsigned>(p.H), static_cast<unsigned>(n_seq));
  ChunkStatePassKernel<<<pass_grid, block, 0, stream>>>(p, row_starts, L, slots, ssm_off, sc);
  const dim3 out_grid(static_cast<unsigned>(chunks * lt * pt), static_cast<unsigned>(p.H));
  ChunkOutputKernel<<<out_grid, block, 0, stream>>>(p, x, ldx, B, C, ldbc, row_starts, n_seq, L, sc,
                                                    y, ldy);
  return cudaGetLastError();
}

}  // namespace rs::kernels::cuda
