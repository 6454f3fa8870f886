// Internal to kernels/cpu: the RWKV ops of rwkv_ops.h written once against
// vec16.h. Included by rwkv_ops.cc (scalar level), rwkv_ops_avx2.cc and
// rwkv_ops_avx512.cc, each defining RS_RWKV_LEVEL (the namespace of its copy)
// and compiled with its own ISA flags.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/rwkv_ops.h"
#include "kernels/cpu/rwkv_ops_internal.h"
#include "kernels/cpu/vec16.h"

namespace rs::kernels::internal::RS_RWKV_LEVEL {
namespace {

using vec16::Load;
using vec16::Splat;
using vec16::Store;
using vec16::V16;

// Applies f to n floats of p in vectors of 16 (the tail zero-padded).
template <typename F>
inline void Map(float* p, int64_t n, F f) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) Store(p + i, f(Load(p + i), i));
  if (i < n) vec16::StorePartial(p + i, f(vec16::LoadPartial(p + i, n - i), i), n - i);
}

// Sum over n floats: 16 lanes (lane l sums i = l mod 16), then the tree.
inline float SumOf(const float* p, int64_t n) {
  V16 acc = Splat(0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) acc += Load(p + i);
  if (i < n) acc += vec16::LoadPartial(p + i, n - i);
  return vec16::Sum(acc);
}

inline float SumSqDev(const float* p, int64_t n, float mean) {
  V16 acc = Splat(0.0f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const V16 d = Load(p + i) - mean;
    acc += d * d;
  }
  if (i < n) {
    V16 d = vec16::LoadPartial(p + i, n - i) - mean;
    for (int64_t l = n - i; l < 16; ++l) d[l] = 0.0f;
    acc += d * d;
  }
  return vec16::Sum(acc);
}

// (x - mean) * rstd * w + b over n floats.
inline void Normalize(const float* x, int64_t n, const float* w, const float* b, float eps,
                      float* y) {
  const float mean = SumOf(x, n) / static_cast<float>(n);
  const float var = SumSqDev(x, n, mean) / static_cast<float>(n);
  const float rstd = 1.0f / std::sqrt(var + eps);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Store(y + i, (Load(x + i) - mean) * rstd * Load(w + i) + Load(b + i));
  }
  if (i < n) {
    const int64_t r = n - i;
    vec16::StorePartial(
        y + i,
        (vec16::LoadPartial(x + i, r) - mean) * rstd * vec16::LoadPartial(w + i, r) +
            vec16::LoadPartial(b + i, r),
        r);
  }
}

}  // namespace

void LayerNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, const float* b,
               float eps, float* y, int64_t ldy) {
  for (int64_t m = 0; m < M; ++m) Normalize(x + m * ldx, C, w, b, eps, y + m * ldy);
}

void TokenShiftMix(const float* x, int64_t T, int64_t C, int64_t ldx, float* prev, int n_mix,
                   const float* const* mix, float* out, int64_t out_step, int64_t ldo) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * ldx;
    const float* xp = t == 0 ? prev : xt - ldx;
    for (int j = 0; j < n_mix; ++j) {
      float* o = out + j * out_step + t * ldo;
      const float* mj = mix[j];
      int64_t c = 0;
      for (; c + 16 <= C; c += 16) {
        const V16 xv = Load(xt + c);
        Store(o + c, xv + (Load(xp + c) - xv) * Load(mj + c));
      }
      for (; c < C; ++c) o[c] = xt[c] + (xp[c] - xt[c]) * mj[c];
    }
  }
  if (T > 0) {
    for (int64_t c = 0; c < C; ++c) prev[c] = x[(T - 1) * ldx + c];
  }
}

void Activate(Activation act, float* x, int64_t M, int64_t n, int64_t ld) {
  for (int64_t m = 0; m < M; ++m) {
    float* row = x + m * ld;
    switch (act) {
      case Activation::kSigmoid:
        Map(row, n, [](V16 v, int64_t) { return vec16::Sigmoid(v); });
        break;
      case Activation::kTanh:
        Map(row, n, [](V16 v, int64_t) { return vec16::Tanh(v); });
        break;
      case Activation::kReluSquare:
        Map(row, n, [](V16 v, int64_t) {
          const V16 r = vec16::Max(v, Splat(0.0f));
          return r * r;
        });
        break;
    }
  }
}

void Rwkv7Prepare(int64_t M, int64_t H, int64_t N, int64_t ld, float* w, const float* w0, float* a,
                  const float* a0, float* k, const float* k_k, const float* k_a, float* v,
                  float* vg, const float* v0, float* v_first, bool v_first_layer) {
  const int64_t C = H * N;
  for (int64_t m = 0; m < M; ++m) {
    float* wr = w + m * ld;
    float* ar = a + m * ld;
    float* kr = k + m * ld;
    float* vr = v + m * ld;
    float* gr = vg + m * ld;
    float* fr = v_first + m * ld;
    for (int64_t c = 0; c < C; c += 16) {
      Store(wr + c, vec16::Exp(Splat(-0.606531f) * vec16::Sigmoid(Load(w0 + c) + Load(wr + c))));
      Store(ar + c, vec16::Sigmoid(Load(a0 + c) + Load(ar + c)));
    }
    for (int64_t h = 0; h < H; ++h) {
      const int64_t c0 = h * N;
      // kk = (k * k_k) / max(||k * k_k||, 1e-12); a local, because vg (its
      // destination as the "b" operand) still holds the v gate input.
      float kk[256];
      V16 acc = Splat(0.0f);
      for (int64_t i = 0; i < N; i += 16) {
        const V16 x = Load(kr + c0 + i) * Load(k_k + c0 + i);
        Store(kk + i, x);
        acc += x * x;
      }
      const float norm = std::max(std::sqrt(vec16::Sum(acc)), 1e-12f);
      for (int64_t i = 0; i < N; i += 16) {
        const int64_t c = c0 + i;
        const V16 kkv = Load(kk + i) / norm;
        const V16 av = Load(ar + c);
        Store(kr + c, Load(kr + c) * (Splat(1.0f) + (av - Splat(1.0f)) * Load(k_a + c)));
        const V16 vv = Load(vr + c);
        if (v_first_layer) {
          Store(fr + c, vv);
        } else {
          Store(vr + c, vv + (Load(fr + c) - vv) * vec16::Sigmoid(Load(v0 + c) + Load(gr + c)));
        }
        Store(ar + c, -kkv);
        Store(gr + c, kkv * av);
      }
    }
  }
}

// The recurrences contract their multiply-adds into FMAs in the levels that
// have them (deterministic for a build: every token runs this same code).
// rwkv_ops_bench, T = 512, one thread: 7.3 -> 5.5 us per token.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
void Wkv7(int64_t T, int64_t N, const float* r, const float* w, const float* k, const float* v,
          const float* a, const float* b, int64_t ld, float* state, float* y, int64_t ldy,
          int64_t h0, int64_t h1) {
  const int64_t nv = N / 16;
  V16 sa[16], out[16], vv[16];
  for (int64_t h = h0; h < h1; ++h) {
    float* S = state + h * N * N;
    const int64_t c0 = h * N;
    for (int64_t t = 0; t < T; ++t) {
      const float* rt = r + t * ld + c0;
      const float* wt = w + t * ld + c0;
      const float* kt = k + t * ld + c0;
      const float* at = a + t * ld + c0;
      const float* bt = b + t * ld + c0;
      const float* vt = v + t * ld + c0;
      for (int64_t q = 0; q < nv; ++q) {
        sa[q] = Splat(0.0f);
        out[q] = Splat(0.0f);
        vv[q] = Load(vt + 16 * q);
      }
      for (int64_t j = 0; j < N; ++j) {
        const float* row = S + j * N;
        const V16 aj = Splat(at[j]);
        for (int64_t q = 0; q < nv; ++q) sa[q] += Load(row + 16 * q) * aj;
      }
      for (int64_t j = 0; j < N; ++j) {
        float* row = S + j * N;
        const V16 wj = Splat(wt[j]), bj = Splat(bt[j]), kj = Splat(kt[j]), rj = Splat(rt[j]);
        for (int64_t q = 0; q < nv; ++q) {
          const V16 s = Load(row + 16 * q) * wj + sa[q] * bj + vv[q] * kj;
          Store(row + 16 * q, s);
          out[q] += s * rj;
        }
      }
      float* yt = y + t * ldy + c0;
      for (int64_t q = 0; q < nv; ++q) Store(yt + 16 * q, out[q]);
    }
  }
}
#pragma GCC pop_options

void Rwkv7Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* r,
                 const float* k, const float* v, int64_t ld, const float* r_k, const float* g,
                 int64_t ldg, const float* ln_w, const float* ln_b, float eps) {
  for (int64_t m = 0; m < M; ++m) {
    float* yr = y + m * ldy;
    const float* rr = r + m * ld;
    const float* kr = k + m * ld;
    const float* vr = v + m * ld;
    const float* gr = g + m * ldg;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t c0 = h * N;
      Normalize(yr + c0, N, ln_w + c0, ln_b + c0, eps, yr + c0);
      V16 acc = Splat(0.0f);
      for (int64_t i = 0; i < N; i += 16) {
        acc += Load(rr + c0 + i) * Load(kr + c0 + i) * Load(r_k + c0 + i);
      }
      const float bonus = vec16::Sum(acc);
      for (int64_t i = 0; i < N; i += 16) {
        const int64_t c = c0 + i;
        Store(yr + c, (Load(yr + c) + bonus * Load(vr + c)) * Load(gr + c));
      }
    }
  }
}

void Rwkv6TokenShift(const float* x, int64_t T, int64_t C, int64_t ldx, float* prev,
                     const float* maa_x, float* dx, float* xxx, int64_t ldo) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * ldx;
    const float* xp = t == 0 ? prev : xt - ldx;
    float* dt = dx + t * ldo;
    float* ot = xxx + t * ldo;
    int64_t c = 0;
    for (; c + 16 <= C; c += 16) {
      const V16 xv = Load(xt + c);
      const V16 d = Load(xp + c) - xv;
      Store(dt + c, d);
      Store(ot + c, xv + d * Load(maa_x + c));
    }
    for (; c < C; ++c) {
      dt[c] = xp[c] - xt[c];
      ot[c] = xt[c] + dt[c] * maa_x[c];
    }
  }
  if (T > 0) {
    for (int64_t c = 0; c < C; ++c) prev[c] = x[(T - 1) * ldx + c];
  }
}

void Rwkv6Mix(int64_t M, int64_t C, const float* x, const float* dx, int64_t ld,
              const float* const* maa, float* m, int64_t ldm) {
  for (int64_t row = 0; row < M; ++row) {
    const float* xr = x + row * ld;
    const float* dr = dx + row * ld;
    for (int j = 0; j < 5; ++j) {
      float* mr = m + row * ldm + j * C;
      const float* mj = maa[j];
      for (int64_t c = 0; c < C; c += 16) {
        Store(mr + c, Load(xr + c) + Load(dr + c) * (Load(mj + c) + Load(mr + c)));
      }
    }
  }
}

void Rwkv6Decay(int64_t M, int64_t C, float* w, int64_t ld, const float* time_decay) {
  for (int64_t row = 0; row < M; ++row) {
    float* wr = w + row * ld;
    for (int64_t c = 0; c < C; c += 16) {
      Store(wr + c, vec16::Exp(-vec16::Exp(Load(time_decay + c) + Load(wr + c))));
    }
  }
}

#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")
void Wkv6(int64_t T, int64_t N, const float* r, const float* w, const float* k, const float* v,
          int64_t ld, const float* u, float* state, float* y, int64_t ldy, int64_t h0, int64_t h1) {
  const int64_t nv = N / 16;
  V16 out[16], vv[16];
  for (int64_t h = h0; h < h1; ++h) {
    float* S = state + h * N * N;
    const int64_t c0 = h * N;
    const float* uh = u + c0;
    for (int64_t t = 0; t < T; ++t) {
      const float* rt = r + t * ld + c0;
      const float* wt = w + t * ld + c0;
      const float* kt = k + t * ld + c0;
      const float* vt = v + t * ld + c0;
      for (int64_t q = 0; q < nv; ++q) {
        out[q] = Splat(0.0f);
        vv[q] = Load(vt + 16 * q);
      }
      // Row i of S (key i) against the value vector: no horizontal sums.
      for (int64_t i = 0; i < N; ++i) {
        float* row = S + i * N;
        const V16 ki = Splat(kt[i]), ri = Splat(rt[i]), ui = Splat(uh[i]), wi = Splat(wt[i]);
        for (int64_t q = 0; q < nv; ++q) {
          const V16 kv = ki * vv[q];
          const V16 s = Load(row + 16 * q);
          out[q] += ri * (ui * kv + s);
          Store(row + 16 * q, kv + wi * s);
        }
      }
      float* yt = y + t * ldy + c0;
      for (int64_t q = 0; q < nv; ++q) Store(yt + 16 * q, out[q]);
    }
  }
}
#pragma GCC pop_options

void Rwkv6Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* g,
                 int64_t ldg, const float* ln_w, const float* ln_b, float eps) {
  for (int64_t m = 0; m < M; ++m) {
    float* yr = y + m * ldy;
    const float* gr = g + m * ldg;
    for (int64_t h = 0; h < H; ++h) {
      const int64_t c0 = h * N;
      Normalize(yr + c0, N, ln_w + c0, ln_b + c0, eps, yr + c0);
      for (int64_t i = 0; i < N; i += 16) {
        const int64_t c = c0 + i;
        const V16 gv = Load(gr + c);
        Store(yr + c, Load(yr + c) * (gv / (Splat(1.0f) + vec16::Exp(-gv))));
      }
    }
  }
}

const RwkvOps kOps = {&LayerNorm,  &TokenShiftMix, &Activate,        &Rwkv7Prepare,
                      &Wkv7,       &Rwkv7Output,   &Rwkv6TokenShift, &Rwkv6Mix,
                      &Rwkv6Decay, &Wkv6,          &Rwkv6Output};

}  // namespace rs::kernels::internal::RS_RWKV_LEVEL
