// RWKV ops: the scalar level's copy of rwkv_ops_impl.h and the dispatch.
#define RS_RWKV_LEVEL scalar
#include "kernels/cpu/cpu_level.h"
#include "kernels/cpu/rwkv_ops_impl.h"

namespace rs::kernels {
namespace {

const internal::RwkvOps& Ops() {
  switch (GetCpuLevel()) {
    case CpuLevel::kAvx512:
      return internal::avx512::kOps;
    case CpuLevel::kAvx2:
      return internal::avx2::kOps;
    case CpuLevel::kScalar:
      break;
  }
  return internal::scalar::kOps;
}

}  // namespace

void LayerNorm(const float* x, int64_t M, int64_t C, int64_t ldx, const float* w, const float* b,
               float eps, float* y, int64_t ldy) {
  Ops().layer_norm(x, M, C, ldx, w, b, eps, y, ldy);
}

void TokenShiftMix(const float* x, int64_t T, int64_t C, int64_t ldx, float* prev, int n_mix,
                   const float* const* mix, float* out, int64_t out_step, int64_t ldo) {
  Ops().token_shift_mix(x, T, C, ldx, prev, n_mix, mix, out, out_step, ldo);
}

void Activate(Activation act, float* x, int64_t M, int64_t n, int64_t ld) {
  Ops().activate(act, x, M, n, ld);
}

void Rwkv7Prepare(int64_t M, int64_t H, int64_t N, int64_t ld, float* w, const float* w0, float* a,
                  const float* a0, float* k, const float* k_k, const float* k_a, float* v,
                  float* vg, const float* v0, float* v_first, bool v_first_layer) {
  Ops().rwkv7_prepare(M, H, N, ld, w, w0, a, a0, k, k_k, k_a, v, vg, v0, v_first, v_first_layer);
}

void Wkv7(int64_t T, int64_t N, const float* r, const float* w, const float* k, const float* v,
          const float* a, const float* b, int64_t ld, float* state, float* y, int64_t ldy,
          int64_t h0, int64_t h1) {
  Ops().wkv7(T, N, r, w, k, v, a, b, ld, state, y, ldy, h0, h1);
}

void Rwkv7Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* r,
                 const float* k, const float* v, int64_t ld, const float* r_k, const float* g,
                 int64_t ldg, const float* ln_w, const float* ln_b, float eps) {
  Ops().rwkv7_output(M, H, N, y, ldy, r, k, v, ld, r_k, g, ldg, ln_w, ln_b, eps);
}

void Rwkv6TokenShift(const float* x, int64_t T, int64_t C, int64_t ldx, float* prev,
                     const float* maa_x, float* dx, float* xxx, int64_t ldo) {
  Ops().rwkv6_token_shift(x, T, C, ldx, prev, maa_x, dx, xxx, ldo);
}

void Rwkv6Mix(int64_t M, int64_t C, const float* x, const float* dx, int64_t ld,
              const float* const* maa, float* m, int64_t ldm) {
  Ops().rwkv6_mix(M, C, x, dx, ld, maa, m, ldm);
}

void Rwkv6Decay(int64_t M, int64_t C, float* w, int64_t ld, const float* time_decay) {
  Ops().rwkv6_decay(M, C, w, ld, time_decay);
}

void Wkv6(int64_t T, int64_t N, const float* r, const float* w, const float* k, const float* v,
          int64_t ld, const float* u, float* state, float* y, int64_t ldy, int64_t h0, int64_t h1) {
  Ops().wkv6(T, N, r, w, k, v, ld, u, state, y, ldy, h0, h1);
}

void Rwkv6Output(int64_t M, int64_t H, int64_t N, float* y, int64_t ldy, const float* g,
                 int64_t ldg, const float* ln_w, const float* ln_b, float eps) {
  Ops().rwkv6_output(M, H, N, y, ldy, g, ldg, ln_w, ln_b, eps);
}

}  // namespace rs::kernels
