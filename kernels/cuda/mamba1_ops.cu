#include "kernels/cuda/mamba1_ops.h"

namespace rs::kernels::cuda {
namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ float Silu(float x) { return x / (1.0f + expf(-x)); }

// torch.nn.functional.softplus (threshold 20).
__device__ __forceinline__ float Softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

// One thread per (sequence, channel): blockIdx.y = sequence.
__global__ void ConvSiluKernel(const float* x, int64_t ldx, int64_t E, int K, const float* w,
                               const float* bias, const int32_t* row_starts, float* const* slots,
                               int64_t conv_off, float* out, int64_t ldo) {
  const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (e >= E) return;
  const int s = blockIdx.y;
  float* state = slots[s] + conv_off;
  float win[8];  // win[j]: input at t - (K-1) + j
  for (int j = 0; j < K - 1; ++j) win[j] = state[j * E + e];
  float wj[8];
  for (int j = 0; j < K; ++j) wj[j] = w[j * E + e];
  const float b = bias != nullptr ? bias[e] : 0.0f;
  for (int64_t t = row_starts[s]; t < row_starts[s + 1]; ++t) {
    win[K - 1] = x[t * ldx + e];
    float acc = b;
    for (int j = 0; j < K; ++j) acc = fmaf(wj[j], win[j], acc);
    out[t * ldo + e] = Silu(acc);
    for (int j = 0; j < K - 1; ++j) win[j] = win[j + 1];
  }
  for (int j = 0; j < K - 1; ++j) state[j * E + e] = win[j];
}

template <int kN>
__global__ void ScanKernel(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                           const float* dt_bias, const float* A, const float* B, const float* C,
                           int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t E,
                           int64_t n_rt, const int32_t* row_starts, float* const* slots,
                           int64_t ssm_off, float* y, int64_t ldy) {
  const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (e >= E) return;
  const int s = blockIdx.y;
  const int64_t N = kN > 0 ? kN : n_rt;
  float* h = slots[s] + ssm_off;
  constexpr int kRegs = kN > 0 ? kN : 64;
  float hs[kRegs], as[kRegs];
  for (int64_t n = 0; n < N; ++n) {
    hs[n] = h[n * E + e];
    as[n] = A[n * E + e];
  }
  const float db = dt_bias[e], dv = D[e];
  for (int64_t t = row_starts[s]; t < row_starts[s + 1]; ++t) {
    const float delta = Softplus(dt[t * ldd + e] + db);
    const float uv = u[t * ldu + e];
    const float du = delta * uv;
    const float* Bt = B + t * ldbc;
    const float* Ct = C + t * ldbc;
    float acc = 0.0f;
    for (int64_t n = 0; n < N; ++n) {
      const float dA = expf(delta * as[n]);
      hs[n] = fmaf(dA, hs[n], du * Bt[n]);
      acc = fmaf(hs[n], Ct[n], acc);
    }
    y[t * ldy + e] = (acc + dv * uv) * Silu(z[t * ldz + e]);
  }
  for (int64_t n = 0; n < N; ++n) h[n * E + e] = hs[n];
}

}  // namespace

cudaError_t Mamba1ConvSilu(const float* x, int64_t M, int64_t ldx, int64_t E, int K,
                           const float* w, const float* bias, const int32_t* row_starts, int n_seq,
                           float* const* slots, int64_t conv_off, float* out, int64_t ldo,
                           cudaStream_t stream) {
  if (M <= 0 || n_seq <= 0 || E <= 0) return cudaSuccess;
  if (K < 1 || K > 8) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((E + kThreads - 1) / kThreads), static_cast<unsigned>(n_seq));
  ConvSiluKernel<<<grid, kThreads, 0, stream>>>(x, ldx, E, K, w, bias, row_starts, slots, conv_off,
                                                out, ldo);
  return cudaGetLastError();
}

cudaError_t Mamba1Scan(const float* u, int64_t ldu, const float* dt, int64_t ldd,
                       const float* dt_bias, const float* A, const float* B, const float* C,
                       int64_t ldbc, const float* D, const float* z, int64_t ldz, int64_t E,
                       int64_t N, const int32_t* row_starts, int n_seq, float* const* slots,
                       int64_t ssm_off, float* y, int64_t ldy, cudaStream_t stream) {
  if (n_seq <= 0 || E <= 0) return cudaSuccess;
  if (N < 1 || N > 64) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>((E + kThreads - 1) / kThreads), static_cast<unsigned>(n_seq));
  if (N == 16) {
    ScanKernel<16><<<grid, kThreads, 0, stream>>>(u, ldu, dt, ldd, dt_bias, A, B, C, ldbc, D, z, ldz,
                                                  E, N, row_starts, slots, ssm_off, y, ldy);
  } else {
    ScanKernel<0><<<grid, kThreads, 0, stream>>>(u, ldu, dt, ldd, dt_bias, A, B, C, ldbc, D, z, ldz,
                                                 E, N, row_starts, slots, ssm_off, y, ldy);
  }
  return cudaGetLastError();
}

}  // namespace rs::kernels::cuda
