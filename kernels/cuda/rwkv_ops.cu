#include <algorithm>

#include "kernels/cuda/rwkv_ops.h"

namespace rs::kernels::cuda {
namespace {

constexpr int kThreads = 256;
// Largest grid for the grid-stride elementwise kernels.
constexpr int64_t kMaxBlocks = 1 << 20;

int ElementwiseBlocks(int64_t total) {
  return static_cast<int>(std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks));
}

// Threads of a per-head block: N rounded up to whole warps (the reductions
// use full-warp shuffles; threads >= N contribute 0 and write nothing).
int HeadThreads(int64_t N) { return static_cast<int>((N + 31) / 32 * 32); }

bool HeadSizeOk(int64_t N) { return N >= 16 && N <= 256 && N % 16 == 0; }

// Sum of v over the block (blockDim.x a multiple of 32, <= 1024), returned to
// every thread. sh: 32 floats of shared memory. Every thread must call it
// (it synchronizes). The order of the sum is fixed for a block size.
__device__ float BlockSum(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int n_warps = blockDim.x >> 5;
  __syncthreads();  // earlier readers of sh are done
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int i = 0; i < n_warps; ++i) total += sh[i];
  return total;
}

__device__ __forceinline__ float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

// The sequence owning row m: the s with row_starts[s] <= m < row_starts[s+1].
__device__ int SeqOfRow(const int32_t* row_starts, int n_seq, int64_t m) {
  int lo = 0, hi = n_seq - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (row_starts[mid] <= m) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// ---- LayerNorm ---------------------------------------------------------------

// One block per row. Two passes (mean, then the squared deviations), as on the CPU.
__global__ void LayerNormKernel(const float* x, int64_t C, int64_t ldx, const float* w,
                                const float* b, float eps, float* y, int64_t ldy, float* xadd,
                                const float* d) {
  __shared__ float sh[32];
  const int64_t m = blockIdx.x;
  const float* xr = x + m * ldx;
  if (xadd != nullptr && d != nullptr) {
    // x += d: each thread updates the channels it reads below.
    float* xa = xadd + m * ldx;
    const float* dr = d + m * ldx;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) xa[c] += dr[c];
  }
  float acc = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) acc += xr[c];
  const float mean = BlockSum(acc, sh) / static_cast<float>(C);
  acc = 0.0f;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    const float dv = xr[c] - mean;
    acc += dv * dv;
  }
  const float var = BlockSum(acc, sh) / static_cast<float>(C);
  const float rstd = 1.0f / sqrtf(var + eps);
  float* yr = y + m * ldy;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];
  }
}

__global__ void AddKernel(float* x, const float* d, int64_t total) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] += d[i];
  }
}

// ---- Token shift ---------------------------------------------------------------

__global__ void TokenShiftMixKernel(const float* x, int64_t M, int64_t C, int64_t ldx,
                                    const int32_t* row_starts, int n_seq, float* const* slots,
                                    int64_t prev_off, int n_mix, const float* mix, float* out,
                                    int64_t out_step, int64_t ldo) {
  const int64_t total = M * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / C, c = i % C;
    const int s = SeqOfRow(row_starts, n_seq, m);
    const float xv = x[m * ldx + c];
    const float xp = m == row_starts[s] ? slots[s][prev_off + c] : x[(m - 1) * ldx + c];
    for (int j = 0; j < n_mix; ++j) {
      out[j * out_step + m * ldo + c] = xv + (xp - xv) * mix[j * C + c];
    }
  }
}

// prev = the last row of each sequence (after every reader of prev ran:
// launched after the mixing kernel on the same stream).
__global__ void SaveLastRowKernel(const float* x, int64_t C, int64_t ldx, const int32_t* row_starts,
                                  int n_seq, float* const* slots, int64_t prev_off) {
  const int64_t total = static_cast<int64_t>(n_seq) * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int s = static_cast<int>(i / C);
    const int64_t c = i % C;
    const int64_t last = row_starts[s + 1] - 1;
    if (last >= row_starts[s]) slots[s][prev_off + c] = x[last * ldx + c];
  }
}

__global__ void Rwkv6TokenShiftKernel(const float* x, int64_t M, int64_t C, int64_t ldx,
                                      const int32_t* row_starts, int n_seq, float* const* slots,
                                      int64_t prev_off, const float* maa_x, float* dx, float* xxx,
                                      int64_t ldo) {
  const int64_t total = M * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / C, c = i % C;
    const int s = SeqOfRow(row_starts, n_seq, m);
    const float xv = x[m * ldx + c];
    const float xp = m == row_starts[s] ? slots[s][prev_off + c] : x[(m - 1) * ldx + c];
    const float d = xp - xv;
    dx[m * ldo + c] = d;
    xxx[m * ldo + c] = xv + d * maa_x[c];
  }
}

// ---- Elementwise -----------------------------------------------------------------

__global__ void ActivateKernel(RwkvActivation act, float* x, int64_t M, int64_t n, int64_t ld) {
  const int64_t total = M * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float* p = x + (i / n) * ld + i % n;
    const float v = *p;
    switch (act) {
      case RwkvActivation::kSigmoid:
        *p = Sigmoid(v);
        break;
      case RwkvActivation::kTanh:
        *p = tanhf(v);
        break;
      case RwkvActivation::kReluSquare: {
        const float r = fmaxf(v, 0.0f);
        *p = r * r;
        break;
      }
    }
  }
}

__global__ void MulSigmoidKernel(float* out, int64_t ldo, const float* g, int64_t ldg, int64_t M,
                                 int64_t n) {
  const int64_t total = M * n;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / n, c = i % n;
    out[m * ldo + c] *= Sigmoid(g[m * ldg + c]);
  }
}

__global__ void Rwkv6MixKernel(int64_t M, int64_t C, const float* x, const float* dx, int64_t ld,
                               const float* maa, float* mm, int64_t ldm) {
  const int64_t total = M * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / C, c = i % C;
    const float xv = x[m * ld + c], d = dx[m * ld + c];
    for (int j = 0; j < 5; ++j) {
      float* p = mm + m * ldm + j * C + c;
      *p = xv + d * (maa[j * C + c] + *p);
    }
  }
}

__global__ void Rwkv6DecayKernel(int64_t M, int64_t C, float* w, int64_t ld,
                                 const float* time_decay) {
  const int64_t total = M * C;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t m = i / C, c = i % C;
    float* p = w + m * ld + c;
    *p = expf(-expf(time_decay[c] + *p));
  }
}

// ---- Per-head ops (one block per (row, head), thread i = channel i of the head) ----

__global__ void Rwkv7PrepareKernel(int64_t H, int64_t N, int64_t ld, float* w, const float* w0,
                                   float* a, const float* a0, float* k, const float* k_k,
                                   const float* k_a, float* v, float* vg, const float* v0,
                                   float* v_first, bool first_layer) {
  __shared__ float sh[32];
  const int64_t m = blockIdx.x / H, h = blockIdx.x % H;
  const int64_t i = threadIdx.x;
  const bool active = i < N;
  const int64_t c = h * N + i;   // channel
  const int64_t o = m * ld + c;  // element
  float kk = 0.0f;
  if (active) kk = k[o] * k_k[c];
  const float norm = fmaxf(sqrtf(BlockSum(kk * kk, sh)), 1e-12f);
  if (active) {
    w[o] = expf(-0.606531f * Sigmoid(w0[c] + w[o]));
    const float av = Sigmoid(a0[c] + a[o]);
    k[o] = k[o] * (1.0f + (av - 1.0f) * k_a[c]);
    const float vv = v[o];
    if (first_layer) {
      v_first[o] = vv;
    } else {
      v[o] = vv + (v_first[o] - vv) * Sigmoid(v0[c] + vg[o]);
    }
    const float kkn = kk / norm;
    a[o] = -kkn;
    vg[o] = kkn * av;
  }
}

// GroupNorm of one head's N values (thread i holds value i, zero when
// inactive); returns the normalized, affine-transformed value.
__device__ float HeadNorm(float yv, bool active, int64_t N, float w, float b, float eps,
                          float* sh) {
  const float mean = BlockSum(active ? yv : 0.0f, sh) / static_cast<float>(N);
  const float dv = active ? yv - mean : 0.0f;
  const float var = BlockSum(dv * dv, sh) / static_cast<float>(N);
  const float rstd = 1.0f / sqrtf(var + eps);
  return (yv - mean) * rstd * w + b;
}

__global__ void Rwkv7OutputKernel(int64_t H, int64_t N, float* y, int64_t ldy, const float* r,
                                  const float* k, const float* v, int64_t ld, const float* r_k,
                                  const float* g, int64_t ldg, const float* ln_w, const float* ln_b,
                                  float eps) {
  __shared__ float sh[32];
  const int64_t m = blockIdx.x / H, h = blockIdx.x % H;
  const int64_t i = threadIdx.x;
  const bool active = i < N;
  const int64_t c = h * N + i;
  const float yv = active ? y[m * ldy + c] : 0.0f;
  const float rkr = active ? r[m * ld + c] * k[m * ld + c] * r_k[c] : 0.0f;
  const float normed =
      HeadNorm(yv, active, N, active ? ln_w[c] : 0.0f, active ? ln_b[c] : 0.0f, eps, sh);
  const float bonus = BlockSum(rkr, sh);
  if (active) y[m * ldy + c] = (normed + bonus * v[m * ld + c]) * g[m * ldg + c];
}

__global__ void Rwkv6OutputKernel(int64_t H, int64_t N, float* y, int64_t ldy, const float* g,
                                  int64_t ldg, const float* ln_w, const float* ln_b, float eps) {
  __shared__ float sh[32];
  const int64_t m = blockIdx.x / H, h = blockIdx.x % H;
  const int64_t i = threadIdx.x;
  const bool active = i < N;
  const int64_t c = h * N + i;
  const float yv = active ? y[m * ldy + c] : 0.0f;
  const float normed =
      HeadNorm(yv, active, N, active ? ln_w[c] : 0.0f, active ? ln_b[c] : 0.0f, eps, sh);
  if (active) {
    const float gv = g[m * ldg + c];
    y[m * ldy + c] = normed * (gv / (1.0f + expf(-gv)));
  }
}

// ---- WKV recurrences (one block per (sequence, head); thread i = value column i) ----

// kN > 0: the thread's state column lives in registers (N == kN, blockDim ==
// kN, a multiple of 32). kN == 0: any valid N, the state stays in global
// memory (blockDim = N rounded up to warps).
template <int kN>
__global__ void Wkv7Kernel(const int32_t* row_starts, int64_t H, int64_t n_rt, const float* r,
                           const float* w, const float* k, const float* v, const float* a,
                           const float* b, int64_t ld, float* const* slots, int64_t wkv_off,
                           float* y, int64_t ldy) {
  __shared__ float sr[256], sw[256], sk[256], sa[256], sb[256];
  const int64_t N = kN > 0 ? kN : n_rt;
  const int s = static_cast<int>(blockIdx.x / H);
  const int64_t h = blockIdx.x % H;
  const int64_t i = threadIdx.x;
  const bool active = i < N;
  float* S = slots[s] + wkv_off + h * N * N;  // S[j][i] at S[j * N + i]
  constexpr int kRegs = kN > 0 ? kN : 1;
  float st[kRegs];
  if constexpr (kN > 0) {
#pragma unroll
    for (int j = 0; j < kN; ++j) st[j] = S[j * kN + i];
  }
  const int64_t t0 = row_starts[s], t1 = row_starts[s + 1];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t o = t * ld + h * N;
    __syncthreads();  // the previous token's readers of the shared vectors are done
    float vi = 0.0f;
    if (active) {
      sr[i] = r[o + i];
      sw[i] = w[o + i];
      sk[i] = k[o + i];
      sa[i] = a[o + i];
      sb[i] = b[o + i];
      vi = v[o + i];
    }
    __syncthreads();
    if (active) {
      float sai = 0.0f, out = 0.0f;
      if constexpr (kN > 0) {
#pragma unroll
        for (int j = 0; j < kN; ++j) sai += st[j] * sa[j];
#pragma unroll
        for (int j = 0; j < kN; ++j) {
          st[j] = st[j] * sw[j] + sai * sb[j] + vi * sk[j];
          out += st[j] * sr[j];
        }
      } else {
        for (int64_t j = 0; j < N; ++j) sai += S[j * N + i] * sa[j];
        for (int64_t j = 0; j < N; ++j) {
          const float sv = S[j * N + i] * sw[j] + sai * sb[j] + vi * sk[j];
          S[j * N + i] = sv;
          out += sv * sr[j];
        }
      }
      y[t * ldy + h * N + i] = out;
    }
  }
  if constexpr (kN > 0) {
#pragma unroll
    for (int j = 0; j < kN; ++j) S[j * kN + i] = st[j];
  }
}

// RWKV-6: S[i][j] with i = key, j = value; thread j owns value column j.
template <int kN>
__global__ void Wkv6Kernel(const int32_t* row_starts, int64_t H, int64_t n_rt, const float* r,
                           const float* w, const float* k, const float* v, int64_t ld,
                           const float* u, float* const* slots, int64_t wkv_off, float* y,
                           int64_t ldy) {
  __shared__ float sr[256], sw[256], sk[256], su[256];
  const int64_t N = kN > 0 ? kN : n_rt;
  const int s = static_cast<int>(blockIdx.x / H);
  const int64_t h = blockIdx.x % H;
  const int64_t j = threadIdx.x;
  const bool active = j < N;
  float* S = slots[s] + wkv_off + h * N * N;  // S[i][j] at S[i * N + j]
  if (active) su[j] = u[h * N + j];           // read after the loop's first __syncthreads
  constexpr int kRegs = kN > 0 ? kN : 1;
  float st[kRegs];
  if constexpr (kN > 0) {
#pragma unroll
    for (int i = 0; i < kN; ++i) st[i] = S[i * kN + j];
  }
  const int64_t t0 = row_starts[s], t1 = row_starts[s + 1];
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t o = t * ld + h * N;
    __syncthreads();
    float vj = 0.0f;
    if (active) {
      sr[j] = r[o + j];
      sw[j] = w[o + j];
      sk[j] = k[o + j];
      vj = v[o + j];
    }
    __syncthreads();
    if (active) {
      float out = 0.0f;
      if constexpr (kN > 0) {
#pragma unroll
        for (int i = 0; i < kN; ++i) {
          const float kv = sk[i] * vj;
          out += sr[i] * (su[i] * kv + st[i]);
          st[i] = kv + sw[i] * st[i];
        }
      } else {
        for (int64_t i = 0; i < N; ++i) {
          const float kv = sk[i] * vj;
          const float sv = S[i * N + j];
          out += sr[i] * (su[i] * kv + sv);
          S[i * N + j] = kv + sw[i] * sv;
        }
      }
      y[t * ldy + h * N + j] = out;
    }
  }
  if constexpr (kN > 0) {
#pragma unroll
    for (int i = 0; i < kN; ++i) S[i * kN + j] = st[i];
  }
}

cudaError_t Launched() { return cudaGetLastError(); }

}  // namespace

cudaError_t RwkvLayerNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w,
                          const float* b, float eps, float* y, int64_t ldy, cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  LayerNormKernel<<<static_cast<unsigned>(M), kThreads, 0, stream>>>(x, C, ldx, w, b, eps, y, ldy,
                                                                     nullptr, nullptr);
  return Launched();
}

cudaError_t RwkvAddLayerNorm(float* x, const float* d, int64_t M, int64_t C, const float* w,
                             const float* b, float eps, float* y, cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  LayerNormKernel<<<static_cast<unsigned>(M), kThreads, 0, stream>>>(x, C, C, w, b, eps, y, C, x,
                                                                     d);
  return Launched();
}

cudaError_t RwkvAdd(float* x, const float* d, int64_t M, int64_t C, cudaStream_t stream) {
  if (M <= 0 || C <= 0) return cudaSuccess;
  AddKernel<<<ElementwiseBlocks(M * C), kThreads, 0, stream>>>(x, d, M * C);
  return Launched();
}

cudaError_t RwkvTokenShiftMix(const float* x, int64_t M, int64_t C, int64_t ldx,
                              const int32_t* row_starts, int n_seq, float* const* slots,
                              int64_t prev_off, int n_mix, const float* mix, float* out,
                              int64_t out_step, int64_t ldo, cudaStream_t stream) {
  if (M <= 0 || n_seq <= 0 || C <= 0) return cudaSuccess;
  TokenShiftMixKernel<<<ElementwiseBlocks(M * C), kThreads, 0, stream>>>(
      x, M, C, ldx, row_starts, n_seq, slots, prev_off, n_mix, mix, out, out_step, ldo);
  cudaError_t e = Launched();
  if (e != cudaSuccess) return e;
  SaveLastRowKernel<<<ElementwiseBlocks(n_seq * C), kThreads, 0, stream>>>(x, C, ldx, row_starts,
                                                                           n_seq, slots, prev_off);
  return Launched();
}

cudaError_t RwkvActivate(RwkvActivation act, float* x, int64_t M, int64_t n, int64_t ld,
                         cudaStream_t stream) {
  if (M <= 0 || n <= 0) return cudaSuccess;
  ActivateKernel<<<ElementwiseBlocks(M * n), kThreads, 0, stream>>>(act, x, M, n, ld);
  return Launched();
}

cudaError_t RwkvMulSigmoid(float* out, int64_t ldo, const float* g, int64_t ldg, int64_t M,
                           int64_t n, cudaStream_t stream) {
  if (M <= 0 || n <= 0) return cudaSuccess;
  MulSigmoidKernel<<<ElementwiseBlocks(M * n), kThreads, 0, stream>>>(out, ldo, g, ldg, M, n);
  return Launched();
}

cudaError_t Rwkv7Prepare(int64_t M, int64_t H, int64_t N, int64_t ld, float* w, const float* w0,
                         float* a, const float* a0, float* k, const float* k_k, const float* k_a,
                         float* v, float* vg, const float* v0, float* v_first, bool first_layer,
                         cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  if (!HeadSizeOk(N)) return cudaErrorInvalidValue;
  Rwkv7PrepareKernel<<<static_cast<unsigned>(M * H), HeadThreads(N), 0, stream>>>(
      H, N, ld, w, w0, a, a0, k, k_k, k_a, v, vg, v0, v_first, first_layer);
  return Launched();
}

cudaError_t Wkv7(const int32_t* row_starts, int n_seq, int64_t H, int64_t N, const float* r,
                 const float* w, const float* k, const float* v, const float* a, const float* b,
                 int64_t ld, float* const* slots, int64_t wkv_off, float* y, int64_t ldy,
                 cudaStream_t stream) {
  if (n_seq <= 0) return cudaSuccess;
  if (!HeadSizeOk(N)) return cudaErrorInvalidValue;
  const auto blocks = static_cast<unsigned>(n_seq * H);
  switch (N) {
    case 32:
      Wkv7Kernel<32><<<blocks, 32, 0, stream>>>(row_starts, H, N, r, w, k, v, a, b, ld, slots,
                                                wkv_off, y, ldy);
      break;
    case 64:
      Wkv7Kernel<64><<<blocks, 64, 0, stream>>>(row_starts, H, N, r, w, k, v, a, b, ld, slots,
                                                wkv_off, y, ldy);
      break;
    case 128:
      Wkv7Kernel<128><<<blocks, 128, 0, stream>>>(row_starts, H, N, r, w, k, v, a, b, ld, slots,
                                                  wkv_off, y, ldy);
      break;
    default:
      Wkv7Kernel<0><<<blocks, HeadThreads(N), 0, stream>>>(row_starts, H, N, r, w, k, v, a, b, ld,
                                                           slots, wkv_off, y, ldy);
      break;
  }
  return Launched();
}

cudaError_t Rwkv7Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* r,
                        const float* k, const float* v, int64_t ld, const float* r_k,
                        const float* g, int64_t ldg, const float* ln_w, const float* ln_b,
                        float eps, cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  if (!HeadSizeOk(N)) return cudaErrorInvalidValue;
  Rwkv7OutputKernel<<<static_cast<unsigned>(M * H), HeadThreads(N), 0, stream>>>(
      H, N, y, ldy, r, k, v, ld, r_k, g, ldg, ln_w, ln_b, eps);
  return Launched();
}

cudaError_t Rwkv6TokenShift(const float* x, int64_t M, int64_t C, int64_t ldx,
                            const int32_t* row_starts, int n_seq, float* const* slots,
                            int64_t prev_off, const float* maa_x, float* dx, float* xxx,
                            int64_t ldo, cudaStream_t stream) {
  if (M <= 0 || n_seq <= 0 || C <= 0) return cudaSuccess;
  Rwkv6TokenShiftKernel<<<ElementwiseBlocks(M * C), kThreads, 0, stream>>>(
      x, M, C, ldx, row_starts, n_seq, slots, prev_off, maa_x, dx, xxx, ldo);
  cudaError_t e = Launched();
  if (e != cudaSuccess) return e;
  SaveLastRowKernel<<<ElementwiseBlocks(n_seq * C), kThreads, 0, stream>>>(x, C, ldx, row_starts,
                                                                           n_seq, slots, prev_off);
  return Launched();
}

cudaError_t Rwkv6Mix(int64_t M, int64_t C, const float* x, const float* dx, int64_t ld,
                     const float* maa, float* m, int64_t ldm, cudaStream_t stream) {
  if (M <= 0 || C <= 0) return cudaSuccess;
  Rwkv6MixKernel<<<ElementwiseBlocks(M * C), kThreads, 0, stream>>>(M, C, x, dx, ld, maa, m, ldm);
  return Launched();
}

cudaError_t Rwkv6Decay(int64_t M, int64_t C, float* w, int64_t ld, const float* time_decay,
                       cudaStream_t stream) {
  if (M <= 0 || C <= 0) return cudaSuccess;
  Rwkv6DecayKernel<<<ElementwiseBlocks(M * C), kThreads, 0, stream>>>(M, C, w, ld, time_decay);
  return Launched();
}

cudaError_t Wkv6(const int32_t* row_starts, int n_seq, int64_t H, int64_t N, const float* r,
                 const float* w, const float* k, const float* v, int64_t ld, const float* u,
                 float* const* slots, int64_t wkv_off, float* y, int64_t ldy, cudaStream_t stream) {
  if (n_seq <= 0) return cudaSuccess;
  if (!HeadSizeOk(N)) return cudaErrorInvalidValue;
  const auto blocks = static_cast<unsigned>(n_seq * H);
  switch (N) {
    case 32:
      Wkv6Kernel<32>
          <<<blocks, 32, 0, stream>>>(row_starts, H, N, r, w, k, v, ld, u, slots, wkv_off, y, ldy);
      break;
    case 64:
      Wkv6Kernel<64>
          <<<blocks, 64, 0, stream>>>(row_starts, H, N, r, w, k, v, ld, u, slots, wkv_off, y, ldy);
      break;
    case 128:
      Wkv6Kernel<128>
          <<<blocks, 128, 0, stream>>>(row_starts, H, N, r, w, k, v, ld, u, slots, wkv_off, y, ldy);
      break;
    default:
      Wkv6Kernel<0><<<blocks, HeadThreads(N), 0, stream>>>(row_starts, H, N, r, w, k, v, ld, u,
                                                           slots, wkv_off, y, ldy);
      break;
  }
  return Launched();
}

cudaError_t Rwkv6Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* g,
                        int64_t ldg, const float* ln_w, const float* ln_b, float eps,
                        cudaStream_t stream) {
  if (M <= 0) return cudaSuccess;
  if (!HeadSizeOk(N)) return cudaErrorInvalidValue;
  Rwkv6OutputKernel<<<static_cast<unsigned>(M * H), HeadThreads(N), 0, stream>>>(
      H, N, y, ldy, g, ldg, ln_w, ln_b, eps);
  return Launched();
}

}  // namespace rs::kernels::cuda
