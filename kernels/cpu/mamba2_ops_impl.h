// Internal to kernels/cpu: the Mamba-2 ops of mamba2_ops.h written once
// against vec16.h. Included by mamba2_ops.cc (scalar level),
// mamba2_ops_avx2.cc and mamba2_ops_avx512.cc, each defining RS_MAMBA2_LEVEL
// (the namespace of its copy) and compiled with its own ISA flags.
//
// Multiply-adds are fused (FMA) at the avx2 and avx512 levels, separate at
// the scalar level: results differ between levels in the last bits.
//
// Vector layout: the state dimension N is the vector axis (S rows are
// (h, p) pairs of N floats, HF's layout), in vectors of 16 with a
// zero-padded tail; dot products over N keep 16 lane sums reduced by
// vec16::Sum's fixed tree, so every result depends only on N, never on
// where a head or token falls. dt and the per-step decay are scalars per
// (token, head), computed with libm (the same at every level).
#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#include "kernels/cpu/mamba2_ops.h"
#include "kernels/cpu/mamba2_ops_internal.h"
#include "kernels/cpu/vec16.h"

namespace rs::kernels::internal::RS_MAMBA2_LEVEL {
namespace {

using vec16::Load;
using vec16::LoadPartial;
using vec16::Splat;
using vec16::Store;
using vec16::StorePartial;
using vec16::V16;

// a * b + c, fused where the level has FMA (one rounding), else mul + add.
static inline V16 Fma(V16 a, V16 b, V16 c) {
#if defined(__AVX512F__)
  __m512 r = _mm512_fmadd_ps(reinterpret_cast<__m512&>(a), reinterpret_cast<__m512&>(b),
                             reinterpret_cast<__m512&>(c));
  return reinterpret_cast<V16&>(r);
#elif defined(__FMA__)
  // V16 is two ymm halves here (vec16.h).
  return V16{{_mm256_fmadd_ps(a.p[0], b.p[0], c.p[0]), _mm256_fmadd_ps(a.p[1], b.p[1], c.p[1])}};
#else
  return a * b + c;
#endif
}

// dt = clamp(softplus(raw + bias), lo, hi), softplus as torch (threshold 20).
inline float DtOf(float raw, float bias, float lo, float hi) {
  const float v = raw + bias;
  const float sp = v > 20.0f ? v : std::log1p(std::exp(v));
  return std::min(std::max(sp, lo), hi);
}

// a · b over n floats.
inline float Dot(const float* a, const float* b, int64_t n) {
  V16 acc = Splat(0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc = Fma(Load(a + i), Load(b + i), acc);
  if (i < n) acc = Fma(LoadPartial(a + i, n - i), LoadPartial(b + i, n - i), acc);
  return vec16::Sum(acc);
}

// One token of one head: S (P, N) = dA * S + (dt x) ⊗ B; y = S C + D x.
// The dot products S[p] · C of 16 rows at a time are reduced together
// (vec16::SumEach, bitwise vec16::Sum of each).
inline void ScanToken(int64_t P, int64_t N, float dA, float dt, const float* x, const float* B,
                      const float* C, const float* D, float* S, float* y) {
  const V16 dAv = Splat(dA);
  V16 accs[16];
  for (int64_t p0 = 0; p0 < P; p0 += 16) {
    const int64_t rows = std::min<int64_t>(16, P - p0);
    for (int64_t j = 0; j < 16; ++j) {
      accs[j] = Splat(0.0f);
      if (j >= rows) continue;
      const int64_t p = p0 + j;
      float* s = S + p * N;
      const V16 xs = Splat(dt * x[p]);
      int64_t n = 0;
      for (; n + 16 <= N; n += 16) {
        const V16 sv = Fma(Load(s + n), dAv, xs * Load(B + n));
        Store(s + n, sv);
        accs[j] = Fma(sv, Load(C + n), accs[j]);
      }
      if (n < N) {
        const int64_t r = N - n;
        const V16 sv = Fma(LoadPartial(s + n, r), dAv, xs * LoadPartial(B + n, r));
        StorePartial(s + n, sv, r);
        accs[j] = Fma(sv, LoadPartial(C + n, r), accs[j]);
      }
    }
    float sums[16];
    Store(sums, vec16::SumEach(accs));
    for (int64_t j = 0; j < rows; ++j) y[p0 + j] = sums[j] + D[p0 + j] * x[p0 + j];
  }
}

// Tokens per block of ScanHeadRows: their B and C rows stay in L1 while each
// state row, held in registers, runs through the block.
constexpr int64_t kScanBlock = 16;

// ScanToken over all tokens of head h, rows outermost within blocks of
// kScanBlock tokens: R state rows at a time (R x NV vectors, N == 16 NV)
// stay in registers through a block, sharing its B and C loads, and are
// loaded and stored once per block instead of once per token. Every
// (token, row) computes exactly ScanToken's operations in ScanToken's order,
// so results are bitwise those of the token-by-token loop. REQUIRES: P % R == 0.
template <int NV, int R>
void ScanHeadRows(const SsdParams& q, const SsdInputs& in, int64_t h, int64_t g, float* Sh,
                  float* y, int64_t ldy) {
  const int64_t P = q.P, N = q.N;
  static_assert(kScanBlock == 16, "one vec16::SumEach per row and block");
  float dts[kScanBlock], dAs[kScanBlock];
  V16 accs[R][kScanBlock];
  for (int64_t t0 = 0; t0 < in.T; t0 += kScanBlock) {
    const int64_t nt = std::min(kScanBlock, in.T - t0);
    for (int64_t i = 0; i < nt; ++i) {
      dts[i] = DtOf(in.dt[(t0 + i) * in.ldd + h], q.dt_bias[h], q.dt_min, q.dt_max);
      dAs[i] = std::exp(dts[i] * q.A[h]);
    }
    const float* xh = in.x + t0 * in.ldx + h * P;
    const float* Bg = in.B + t0 * in.ldbc + g * N;
    const float* Cg = in.C + t0 * in.ldbc + g * N;
    float* yh = y + t0 * ldy + h * P;
    for (int64_t p = 0; p < P; p += R) {
      V16 sv[R][NV];
      float Dp[R];
      for (int r = 0; r < R; ++r) {
        for (int k = 0; k < NV; ++k) sv[r][k] = Load(Sh + (p + r) * N + 16 * k);
        Dp[r] = q.D[h * P + p + r];
      }
      for (int64_t i = 0; i < nt; ++i) {
        const float* Bt = Bg + i * in.ldbc;
        const float* Ct = Cg + i * in.ldbc;
        const V16 dAv = Splat(dAs[i]);
        V16 xs[R], acc[R];
        for (int r = 0; r < R; ++r) {
          xs[r] = Splat(dts[i] * xh[i * in.ldx + p + r]);
          acc[r] = Splat(0.0f);
        }
        for (int k = 0; k < NV; ++k) {
          const V16 b = Load(Bt + 16 * k), c = Load(Ct + 16 * k);
          for (int r = 0; r < R; ++r) {
            sv[r][k] = Fma(sv[r][k], dAv, xs[r] * b);
            acc[r] = Fma(sv[r][k], c, acc[r]);
          }
        }
        for (int r = 0; r < R; ++r) accs[r][i] = acc[r];
      }
      // The block's dot products, 16 tokens at a time per row.
      for (int r = 0; r < R; ++r) {
        for (int64_t i = nt; i < kScanBlock; ++i) accs[r][i] = Splat(0.0f);
        float sums[kScanBlock];
        Store(sums, vec16::SumEach(accs[r]));
        for (int64_t i = 0; i < nt; ++i) {
          const float xp = xh[i * in.ldx + p + r];
          yh[i * ldy + p + r] = sums[i] + Dp[r] * xp;
        }
      }
      for (int r = 0; r < R; ++r)
        for (int k = 0; k < NV; ++k) Store(Sh + (p + r) * N + 16 * k, sv[r][k]);
    }
  }
}

void SsdScanImpl(const SsdParams& q, const SsdInputs& in, float* S, float* y, int64_t ldy,
                 int64_t h0, int64_t h1) {
  const int64_t P = q.P, N = q.N, heads_per_group = q.H / q.G;
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t g = h / heads_per_group;
    float* Sh = S + h * P * N;
    if (in.T > 1 && (N == 64 || N == 128 || N == 256)) {
      const bool pairs = P % 2 == 0;
      if (N == 64)
        pairs ? ScanHeadRows<4, 2>(q, in, h, g, Sh, y, ldy)
              : ScanHeadRows<4, 1>(q, in, h, g, Sh, y, ldy);
      if (N == 128)
        pairs ? ScanHeadRows<8, 2>(q, in, h, g, Sh, y, ldy)
              : ScanHeadRows<8, 1>(q, in, h, g, Sh, y, ldy);
      if (N == 256) ScanHeadRows<16, 1>(q, in, h, g, Sh, y, ldy);
      continue;
    }
    // Other state sizes (and single tokens): token by token; the head's
    // state (P x N) stays in L1.
    for (int64_t t = 0; t < in.T; ++t) {
      const float dt = DtOf(in.dt[t * in.ldd + h], q.dt_bias[h], q.dt_min, q.dt_max);
      const float dA = std::exp(dt * q.A[h]);
      ScanToken(P, N, dA, dt, in.x + t * in.ldx + h * P, in.B + t * in.ldbc + g * N,
                in.C + t * in.ldbc + g * N, q.D + h * P, S + h * P * N, y + t * ldy + h * P);
    }
  }
}

// Columns [c0, c0 + 16 kV) of AccumulateRows, in kV register accumulators.
template <int kV>
inline void AccumulateBlock(float* out, bool accumulate, int64_t count, const float* coef,
                            int64_t cs, const float* rows, int64_t rs) {
  V16 acc[kV];
  for (int k = 0; k < kV; ++k) acc[k] = accumulate ? Load(out + 16 * k) : Splat(0.0f);
  for (int64_t i = 0; i < count; ++i, rows += rs) {
    const V16 cv = Splat(coef[i * cs]);
    for (int k = 0; k < kV; ++k) acc[k] = Fma(cv, Load(rows + 16 * k), acc[k]);
  }
  for (int k = 0; k < kV; ++k) Store(out + 16 * k, acc[k]);
}

// out[0..n) = (accumulate ? out : 0) + Σ_{i < count} coef[i * cs] * rows[i * rs + 0..n),
// summed in order of i for every element (so the result does not depend on
// how columns are blocked). Columns go in register blocks of 8, 4, 2, 1
// vectors, then a zero-padded tail.
inline void AccumulateRows(float* out, bool accumulate, int64_t n, int64_t count, const float* coef,
                           int64_t cs, const float* rows, int64_t rs) {
  int64_t c0 = 0;
  for (; c0 + 128 <= n; c0 += 128)
    AccumulateBlock<8>(out + c0, accumulate, count, coef, cs, rows + c0, rs);
  if (c0 + 64 <= n) {
    AccumulateBlock<4>(out + c0, accumulate, count, coef, cs, rows + c0, rs);
    c0 += 64;
  }
  if (c0 + 32 <= n) {
    AccumulateBlock<2>(out + c0, accumulate, count, coef, cs, rows + c0, rs);
    c0 += 32;
  }
  if (c0 + 16 <= n) {
    AccumulateBlock<1>(out + c0, accumulate, count, coef, cs, rows + c0, rs);
    c0 += 16;
  }
  if (c0 < n) {
    const int64_t m = n - c0;
    V16 acc = accumulate ? LoadPartial(out + c0, m) : Splat(0.0f);
    const float* r = rows + c0;
    for (int64_t i = 0; i < count; ++i, r += rs)
      acc = Fma(Splat(coef[i * cs]), LoadPartial(r, m), acc);
    StorePartial(out + c0, acc, m);
  }
}

// dst (cols, ldd) = srcᵀ, src rows `ld` apart.
inline void Transpose(const float* src, int64_t rows, int64_t cols, int64_t ld, int64_t ldd,
                      float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * ld + c];
  }
}

// dst (cols, ldd) = srcᵀ zero-padded to ldd columns, in 16x16 register
// tiles. REQUIRES: cols % 16 == 0, ldd % 16 == 0, rows <= ldd.
inline void TransposeTiles(const float* src, int64_t rows, int64_t cols, int64_t ld, int64_t ldd,
                           float* dst) {
  for (int64_t c0 = 0; c0 < cols; c0 += 16) {
    for (int64_t r0 = 0; r0 < ldd; r0 += 16) {
      V16 t[16];
      for (int64_t i = 0; i < 16; ++i)
        t[i] = r0 + i < rows ? Load(src + (r0 + i) * ld + c0) : Splat(0.0f);
      vec16::Transpose16(t);
      for (int64_t j = 0; j < 16; ++j) Store(dst + (c0 + j) * ldd + r0, t[j]);
    }
  }
}

// Scratch of one SsdChunked call (per thread, grown on demand).
struct ChunkScratch {
  std::vector<float> bt;         // (N, Lp) Bᵀ of the current group's chunk (zero padded)
  std::vector<float> cb;         // (L, Lp) C_l · B_s of the current group, s <= l
  std::vector<float> w;          // (L, Lp) cb * decay(l, s) * dt[s]
  std::vector<float> st;         // (N, P) S0ᵀ of the current head
  std::vector<float> dt;         // (L)
  std::vector<double> dA;        // (L) exp(dt * A), double
  std::vector<double> dec;       // (L) decay(l, s) for the current row l
  std::vector<float> out_decay;  // (L) decay from the chunk start to l (inclusive)
  std::vector<float> in_coef;    // (L) decay from s to the chunk end, times dt[s]
  std::vector<float> coef;       // (max(L, N)) per-row coefficients
  std::vector<float> yacc;       // (P)
  // The register-blocked path (P and N multiples of 16):
  std::vector<float> ct;  // (N, Lp) Cᵀ of the current group's chunk (zero padded)
  std::vector<float> wt;  // (L, Lp) Wᵀ: wt[s, l] = W[l, s], zero for l < s and l >= Lc
  std::vector<float> od;  // (Lp) out_decay, zero padded
  std::vector<float> xc;  // (L, P) in_coef[s] * x[s, p]
};

// Register-blocked pieces of SsdChunkedImpl for P and N multiples of 16.
//
// Output block: channels p0..p0+15 of one head for chunk rows l0..l0+15, as
// Yᵀ with the rows l along the lanes (so the state's rows are read in place,
// never transposed):
//   Yᵀ[p, l] = od[l] * Σ_n S0[p, n] Cᵀ[n, l] + Σ_{s < smax} x[s, p] Wᵀ[s, l]
// then transposed in registers and stored as y[l, p] = Y[l, p] + D[p] x[l, p]
// for the first `rows` rows (x_l0, y_l0: row l0 of x and y at channel p0).
// Wᵀ is zero where s > l, so every row sums exactly its causal terms (a
// non-finite x would reach the earlier rows of its block as 0 * inf).
// kN: N when it is a compile-time constant (the 16 state rows are then one
// pointer plus immediate offsets), 0 for a run-time N.
template <int kN>
inline void ChunkOutputBlock(int64_t n_state, const float* S_p0, const float* ct, int64_t Lp,
                             const float* od, const float* wt, int64_t smax, const float* x_p0,
                             int64_t ldx, const float* D_p0, int64_t rows, const float* x_l0,
                             float* y_l0, int64_t ldy) {
  const int64_t N = kN > 0 ? kN : n_state;
  // The first term initializes the accumulators (no zeroed array: GCC would
  // clear it in memory with rep stos on every call).
  V16 acc[16];
  const V16 c0 = Load(ct);
  for (int i = 0; i < 16; ++i) acc[i] = Splat(S_p0[i * N]) * c0;
  for (int64_t n = 1; n < N; ++n) {
    const V16 c = Load(ct + n * Lp);
    const float* sn = S_p0 + n;
    for (int i = 0; i < 16; ++i) acc[i] = Fma(Splat(sn[i * N]), c, acc[i]);
  }
  const V16 o = Load(od);
  for (int i = 0; i < 16; ++i) acc[i] = acc[i] * o;
  for (int64_t s = 0; s < smax; ++s) {
    const V16 w = Load(wt + s * Lp);
    const float* xs = x_p0 + s * ldx;
    for (int i = 0; i < 16; ++i) acc[i] = Fma(Splat(xs[i]), w, acc[i]);
  }
  vec16::Transpose16(acc);
  const V16 d = Load(D_p0);
  for (int64_t j = 0; j < rows; ++j) Store(y_l0 + j * ldy, acc[j] + d * Load(x_l0 + j * ldx));
}

// State block: rows p0..p0+3, columns n0..n0+16 NV of one head:
//   S[p, n] = decay * S0[p, n] + Σ_{s < Lc} xc[s, p] B[s, n]   (s in order).
template <int NV>
inline void ChunkStateBlock(int64_t N, float* S_p0, float decay, int64_t Lc, const float* xc_p0,
                            int64_t P, const float* B_n0, int64_t ldbc) {
  V16 acc[4][NV];
  const V16 dv = Splat(decay);
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < NV; ++k) acc[i][k] = Load(S_p0 + i * N + 16 * k) * dv;
  for (int64_t s = 0; s < Lc; ++s) {
    V16 b[NV];
    for (int k = 0; k < NV; ++k) b[k] = Load(B_n0 + s * ldbc + 16 * k);
    for (int i = 0; i < 4; ++i) {
      const V16 xv = Splat(xc_p0[s * P + i]);
      for (int k = 0; k < NV; ++k) acc[i][k] = Fma(xv, b[k], acc[i][k]);
    }
  }
  for (int i = 0; i < 4; ++i)
    for (int k = 0; k < NV; ++k) Store(S_p0 + i * N + 16 * k, acc[i][k]);
}

void SsdChunkedImpl(const SsdParams& q, const SsdInputs& in, int64_t chunk, float* S, float* y,
                    int64_t ldy, int64_t h0, int64_t h1) {
  thread_local ChunkScratch sc;
  const int64_t P = q.P, N = q.N, L = chunk, heads_per_group = q.H / q.G;
  const int64_t Lp = (L + 15) / 16 * 16;  // row stride of bt, cb and w: whole vectors
  const auto sz = [](int64_t n) { return static_cast<size_t>(n); };
  if (sc.cb.size() < sz(L * Lp)) {
    sc.cb.resize(sz(L * Lp));
    sc.w.resize(sz(L * Lp));
  }
  sc.bt.assign(sz(N * Lp), 0.0f);
  sc.st.resize(sz(N * P));
  sc.dt.resize(sz(L));
  sc.dA.resize(sz(L));
  sc.dec.resize(sz(L));
  sc.out_decay.resize(sz(L));
  sc.in_coef.resize(sz(L));
  sc.coef.resize(sz(std::max(L, N)));
  sc.yacc.resize(sz(P));
  // Register-blocked products when whole vectors fit; row by row otherwise.
  const bool blocked = P % 16 == 0 && N % 16 == 0;
  if (blocked) {
    sc.ct.resize(sz(N * Lp));
    sc.wt.resize(sz(L * Lp));
    sc.od.resize(sz(Lp));
    sc.xc.resize(sz(L * P));
  }
  for (int64_t c0 = 0; c0 < in.T; c0 += L) {
    const int64_t Lc = std::min(L, in.T - c0);
    int64_t cb_group = -1;
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t g = h / heads_per_group;
      const float* Bg = in.B + c0 * in.ldbc + g * N;  // row l at Bg + l * ldbc
      const float* Cg = in.C + c0 * in.ldbc + g * N;
      const float* xh = in.x + c0 * in.ldx + h * P;  // row l at xh + l * ldx
      float* Sh = S + h * P * N;
      if (g != cb_group) {  // CB[l, s] = C_l · B_s (s <= l), shared by the group's heads
        // Whole vectors of each row (entries s > l are computed, never used).
        if (blocked) {
          TransposeTiles(Bg, Lc, N, in.ldbc, Lp, sc.bt.data());
        } else {
          Transpose(Bg, Lc, N, in.ldbc, Lp, sc.bt.data());
        }
        for (int64_t l = 0; l < Lc; ++l) {
          AccumulateRows(&sc.cb[sz(l * Lp)], false, (l + 16) / 16 * 16, N, Cg + l * in.ldbc, 1,
                         sc.bt.data(), Lp);
        }
        if (blocked) TransposeTiles(Cg, Lc, N, in.ldbc, Lp, sc.ct.data());
        cb_group = g;
      }
      // Per-step dt and decay; decays from the chunk start (out) and to its end (in).
      double run = 1.0;
      for (int64_t l = 0; l < Lc; ++l) {
        sc.dt[sz(l)] = DtOf(in.dt[(c0 + l) * in.ldd + h], q.dt_bias[h], q.dt_min, q.dt_max);
        sc.dA[sz(l)] = std::exp(static_cast<double>(sc.dt[sz(l)]) * static_cast<double>(q.A[h]));
        run *= sc.dA[sz(l)];
        sc.out_decay[sz(l)] = static_cast<float>(run);
      }
      run = 1.0;
      for (int64_t s = Lc - 1; s >= 0; --s) {
        sc.in_coef[sz(s)] = static_cast<float>(run) * sc.dt[sz(s)];
        run *= sc.dA[sz(s)];
      }
      // W[l, s] = CB[l, s] * decay(l, s) * dt[s], decay(l, s) = prod_{i=s+1..l} dA[i]
      // (row l is row l-1 times dA[l]; decays below 1e-40 are 0).
      double* dec = sc.dec.data();
      if (blocked) std::fill(sc.wt.begin(), sc.wt.begin() + Lc * Lp, 0.0f);
      for (int64_t l = 0; l < Lc; ++l) {
        const double a = sc.dA[sz(l)];
        for (int64_t s = 0; s < l; ++s) {
          const double d = dec[s] * a;
          dec[s] = d < 1e-40 ? 0.0 : d;
        }
        dec[l] = 1.0;
        const float* cbl = &sc.cb[sz(l * Lp)];
        if (blocked) {
          for (int64_t s = 0; s <= l; ++s)
            sc.wt[sz(s * Lp + l)] = cbl[s] * static_cast<float>(dec[s]) * sc.dt[sz(s)];
        } else {
          float* wl = &sc.w[sz(l * Lp)];
          for (int64_t s = 0; s <= l; ++s)
            wl[s] = cbl[s] * static_cast<float>(dec[s]) * sc.dt[sz(s)];
        }
      }
      if (blocked) {
        const float* Dh = q.D + h * P;
        for (int64_t l = 0; l < Lp; ++l) sc.od[sz(l)] = l < Lc ? sc.out_decay[sz(l)] : 0.0f;
        float* yc = y + c0 * ldy + h * P;
        for (int64_t p0 = 0; p0 < P; p0 += 16) {
          for (int64_t l0 = 0; l0 < Lc; l0 += 16) {
            const auto block = N == 128  ? &ChunkOutputBlock<128>
                               : N == 64 ? &ChunkOutputBlock<64>
                                         : &ChunkOutputBlock<0>;
            block(N, Sh + p0 * N, &sc.ct[sz(l0)], Lp, &sc.od[sz(l0)], &sc.wt[sz(l0)],
                  std::min(Lc, l0 + 16), xh + p0, in.ldx, Dh + p0, std::min<int64_t>(16, Lc - l0),
                  xh + l0 * in.ldx + p0, yc + l0 * ldy + p0, ldy);
          }
        }
        for (int64_t s = 0; s < Lc; ++s)
          for (int64_t p = 0; p < P; ++p)
            sc.xc[sz(s * P + p)] = sc.in_coef[sz(s)] * xh[s * in.ldx + p];
        const float chunk_decay = sc.out_decay[sz(Lc - 1)];
        for (int64_t p0 = 0; p0 < P; p0 += 4) {
          for (int64_t n0 = 0; n0 < N; n0 += 64) {
            float* Sp = Sh + p0 * N + n0;
            const float* xcp = &sc.xc[sz(p0)];
            const float* Bn = Bg + n0;
            switch (std::min<int64_t>(4, (N - n0) / 16)) {
              case 4:
                ChunkStateBlock<4>(N, Sp, chunk_decay, Lc, xcp, P, Bn, in.ldbc);
                break;
              case 3:
                ChunkStateBlock<3>(N, Sp, chunk_decay, Lc, xcp, P, Bn, in.ldbc);
                break;
              case 2:
                ChunkStateBlock<2>(N, Sp, chunk_decay, Lc, xcp, P, Bn, in.ldbc);
                break;
              default:
                ChunkStateBlock<1>(N, Sp, chunk_decay, Lc, xcp, P, Bn, in.ldbc);
                break;
            }
          }
        }
        continue;
      }
      // y[l] = Σ_{s<=l} W[l, s] x[s] + out_decay[l] (S0 C[l]) + D x[l].
      Transpose(Sh, P, N, N, P, sc.st.data());
      const float* Dh = q.D + h * P;
      for (int64_t l = 0; l < Lc; ++l) {
        float* acc = sc.yacc.data();
        AccumulateRows(acc, false, P, l + 1, &sc.w[sz(l * Lp)], 1, xh, in.ldx);
        const float* Cl = Cg + l * in.ldbc;
        const float od = sc.out_decay[sz(l)];
        for (int64_t n = 0; n < N; ++n) sc.coef[sz(n)] = od * Cl[n];
        AccumulateRows(acc, true, P, N, sc.coef.data(), 1, sc.st.data(), P);
        const float* xl = xh + l * in.ldx;
        float* yl = y + (c0 + l) * ldy + h * P;
        for (int64_t p = 0; p < P; ++p) yl[p] = acc[p] + Dh[p] * xl[p];
      }
      // S = out_decay[Lc-1] * S0 + Σ_s in_coef[s] x[s, p] B[s].
      const float chunk_decay = sc.out_decay[sz(Lc - 1)];
      for (int64_t p = 0; p < P; ++p) {
        float* Sp = Sh + p * N;
        for (int64_t n = 0; n < N; ++n) Sp[n] *= chunk_decay;
        for (int64_t s = 0; s < Lc; ++s) sc.coef[sz(s)] = sc.in_coef[sz(s)] * xh[s * in.ldx + p];
        AccumulateRows(Sp, true, N, Lc, sc.coef.data(), 1, Bg, in.ldbc);
      }
    }
  }
}

void GatedRmsNormImpl(const float* y, int64_t ldy, const float* z, int64_t ldz, int64_t M,
                      int64_t E, int64_t G, const float* w, float eps, float* out, int64_t ldo) {
  const int64_t Eg = E / G;
  for (int64_t m = 0; m < M; ++m) {
    const float* yr = y + m * ldy;
    const float* zr = z + m * ldz;
    float* o = out + m * ldo;
    // v = y * silu(z), into out.
    int64_t i = 0;
    for (; i + 16 <= E; i += 16) {
      const V16 zv = Load(zr + i);
      Store(o + i, Load(yr + i) * (zv * vec16::Sigmoid(zv)));
    }
    if (i < E) {
      const V16 zv = LoadPartial(zr + i, E - i);
      StorePartial(o + i, LoadPartial(yr + i, E - i) * (zv * vec16::Sigmoid(zv)), E - i);
    }
    for (int64_t g = 0; g < G; ++g) {
      float* v = o + g * Eg;
      const float r = 1.0f / std::sqrt(Dot(v, v, Eg) / static_cast<float>(Eg) + eps);
      const float* wg = w + g * Eg;
      int64_t j = 0;
      for (; j + 16 <= Eg; j += 16) Store(v + j, Load(v + j) * Splat(r) * Load(wg + j));
      if (j < Eg)
        StorePartial(v + j, LoadPartial(v + j, Eg - j) * Splat(r) * LoadPartial(wg + j, Eg - j),
                     Eg - j);
    }
  }
}

}  // namespace

extern const Mamba2Ops kMamba2Ops = {SsdScanImpl, SsdChunkedImpl, GatedRmsNormImpl};

}  // namespace rs::kernels::internal::RS_MAMBA2_LEVEL
