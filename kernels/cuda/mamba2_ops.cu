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
                  float* const* slots, int64_t ssm_off, float* y, int64_t ldy) {
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  const int64_t h = blockIdx.y;
  const int s = static_cast<int>(blockIdx.z);
  const int64_t P = q.P, N = q.N;
  const int64_t g = h / (q.H / q.G);
  const int64_t p0 = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + warp * kRowsPerWarp;
  if (p0 >= P) return;  // the whole warp (p0 is warp-uniform)
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

}  // namespace

cudaError_t Mamba2Scan(const SsdParams& p, const float* x, int64_t ldx, const float* B,
                       const float* C, int64_t ldbc, const float* dt, int64_t ldd,
                       const int32_t* row_starts, int n_seq, float* const* slots, int64_t ssm_off,
                       float* y, int64_t ldy, cudaStream_t stream) {
  if (n_seq <= 0 || p.H <= 0 || p.P <= 0) return cudaSuccess;
  if (p.N < 1 || p.N > kMamba2MaxState || p.G < 1 || p.H % p.G != 0) return cudaErrorInvalidValue;
  if (n_seq > 65535 || p.H > 65535) return cudaErrorInvalidValue;  // grid y / z limits
  const dim3 grid(static_cast<unsigned>((p.P + kRowsPerBlock - 1) / kRowsPerBlock),
                  static_cast<unsigned>(p.H), static_cast<unsigned>(n_seq));
  const dim3 block(kScanWarps * 32);
#define RS_SSD_SCAN(V)                                                                            \
  SsdScanKernel<V><<<grid, block, 0, stream>>>(p, x, ldx, B, C, ldbc, dt, ldd, row_starts, slots, \
                                               ssm_off, y, ldy)
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

}  // namespace rs::kernels::cuda
