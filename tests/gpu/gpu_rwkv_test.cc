// RWKV on the GPU against the CPU reference.
//
// Kernel level (this file, first part): every kernel of kernels/cuda/rwkv_ops.h
// against its CPU twin in kernels/cpu/rwkv_ops.h on random inputs, for
// several head sizes (32/64/128 take the register-state WKV kernels, 16/48 the
// generic one), steps of several sequences of different lengths (batched
// rows, per-sequence state slots in separate allocations), and the chunk ==
// single steps property of the recurrences (bitwise on the GPU).
// Tolerance: max|gpu - cpu| <= 1e-5 * max(1, max|cpu|) for the elementwise
// and norm ops, 1e-4 relative (over the whole output) for the recurrences.
//
// Every test skips (GTEST_SKIP with a message) when no CUDA device is usable.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/rwkv_ops.h"
#include "kernels/cuda/cuda_probe.h"
#include "kernels/cuda/rwkv_ops.h"
#include "tests/gpu/gpu_test_util.h"

namespace rs::kernels::cuda {
namespace {

namespace cpu = ::rs::kernels;
using ::rs::kernels::Activation;

using namespace testing;  // NOLINT: Dev, Slots, Seqs, Random, RelErr

TEST(GpuRwkvOps, LayerNormAndAddLayerNorm) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t M = 5, C = 200, ld = 208;
  const auto x = Random(M * ld, -2.0f, 3.0f, 1);
  const auto d = Random(M * C, -1.0f, 1.0f, 2);
  const auto w = Random(C, 0.5f, 1.5f, 3);
  const auto b = Random(C, -0.5f, 0.5f, 4);
  std::vector<float> cpu(M * C);
  cpu::LayerNorm(x.data(), M, C, ld, w.data(), b.data(), 1e-5f, cpu.data(), C);
  Dev<float> dx(x), dw(w), db(b), dy(std::vector<float>(M * C));
  CUDA_OK(RwkvLayerNorm(dx.get(), M, C, ld, dw.get(), db.get(), 1e-5f, dy.get(), C, nullptr));
  EXPECT_LE(RelErr(dy.Host(), cpu), 1e-5);

  // x += d; y = LN(x) with stride C.
  std::vector<float> xc(M * C);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < C; ++c) xc[m * C + c] = x[m * ld + c];
  Dev<float> dxc(xc), dd(d);
  for (size_t i = 0; i < xc.size(); ++i) xc[i] += d[i];
  cpu::LayerNorm(xc.data(), M, C, C, w.data(), b.data(), 1e-5f, cpu.data(), C);
  CUDA_OK(
      RwkvAddLayerNorm(dxc.get(), dd.get(), M, C, dw.get(), db.get(), 1e-5f, dy.get(), nullptr));
  EXPECT_LE(RelErr(dxc.Host(), xc), 1e-6);
  EXPECT_LE(RelErr(dy.Host(), cpu), 1e-5);
}

TEST(GpuRwkvOps, TokenShiftMixAcrossSequences) {
  RS_SKIP_WITHOUT_GPU();
  const Seqs seqs = MakeSeqs({1, 4, 2});
  const int64_t C = 96, M = seqs.M(), n_mix = 3, ldo = n_mix * C;
  const int64_t slot = 2 * C, off = C;  // prev at offset C of each slot
  const auto x = Random(M * C, -1.0f, 1.0f, 5);
  const auto mix = Random(n_mix * C, 0.0f, 1.0f, 6);
  const auto state = Random(seqs.n() * slot, -1.0f, 1.0f, 7);
  std::vector<float> cpu_out(M * ldo), cpu_state = state;
  const float* mixes[3] = {mix.data(), mix.data() + C, mix.data() + 2 * C};
  for (int s = 0; s < seqs.n(); ++s) {
    cpu::TokenShiftMix(x.data() + seqs.starts[s] * C, seqs.T(s), C, C, &cpu_state[s * slot + off],
                       n_mix, mixes, &cpu_out[seqs.starts[s] * ldo], C, ldo);
  }
  Dev<float> dx(x), dmix(mix), dout(std::vector<float>(M * ldo));
  Dev<int32_t> dstarts(seqs.starts);
  Slots slots(seqs.n(), slot, state);
  CUDA_OK(RwkvTokenShiftMix(dx.get(), M, C, C, dstarts.get(), seqs.n(), slots.dev(), off, n_mix,
                            dmix.get(), dout.get(), C, ldo, nullptr));
  EXPECT_LE(RelErr(dout.Host(), cpu_out), 1e-6);
  EXPECT_EQ(slots.Host(), cpu_state);

  // RWKV-6's token shift on the same inputs.
  std::vector<float> cdx(M * C), cxxx(M * C);
  cpu_state = state;
  for (int s = 0; s < seqs.n(); ++s) {
    const int64_t r = seqs.starts[s];
    cpu::Rwkv6TokenShift(x.data() + r * C, seqs.T(s), C, C, &cpu_state[s * slot + off], mix.data(),
                         &cdx[r * C], &cxxx[r * C], C);
  }
  Slots slots6(seqs.n(), slot, state);
  Dev<float> gdx(std::vector<float>(M * C)), gxxx(std::vector<float>(M * C));
  CUDA_OK(Rwkv6TokenShift(dx.get(), M, C, C, dstarts.get(), seqs.n(), slots6.dev(), off, dmix.get(),
                          gdx.get(), gxxx.get(), C, nullptr));
  EXPECT_LE(RelErr(gdx.Host(), cdx), 1e-6);
  EXPECT_LE(RelErr(gxxx.Host(), cxxx), 1e-6);
  EXPECT_EQ(slots6.Host(), cpu_state);
}

TEST(GpuRwkvOps, ActivationsAndGates) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t M = 3, n = 70, ld = 80;
  const auto x = Random(M * ld, -4.0f, 4.0f, 8);
  for (auto [g, c] : {std::pair{RwkvActivation::kSigmoid, Activation::kSigmoid},
                      std::pair{RwkvActivation::kTanh, Activation::kTanh},
                      std::pair{RwkvActivation::kReluSquare, Activation::kReluSquare}}) {
    std::vector<float> cpu = x;
    cpu::Activate(c, cpu.data(), M, n, ld);
    Dev<float> dx(x);
    CUDA_OK(RwkvActivate(g, dx.get(), M, n, ld, nullptr));
    EXPECT_LE(RelErr(dx.Host(), cpu), 1e-5) << static_cast<int>(c);
  }
  // out *= sigmoid(g)
  const auto out = Random(M * n, -2.0f, 2.0f, 9);
  std::vector<float> sg = x;
  cpu::Activate(Activation::kSigmoid, sg.data(), M, n, ld);
  std::vector<float> cpu = out;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < n; ++c) cpu[m * n + c] *= sg[m * ld + c];
  Dev<float> dout(out), dg(x);
  CUDA_OK(RwkvMulSigmoid(dout.get(), n, dg.get(), ld, M, n, nullptr));
  EXPECT_LE(RelErr(dout.Host(), cpu), 1e-5);
}

class GpuRwkvHeads : public ::testing::TestWithParam<int> {};

TEST_P(GpuRwkvHeads, Rwkv7PrepareAndOutput) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t N = GetParam(), H = 3, C = H * N, M = 4, ld = C + 16;
  const auto w = Random(M * ld, -3.0f, 3.0f, 10), a = Random(M * ld, -3.0f, 3.0f, 11);
  const auto k = Random(M * ld, -1.0f, 1.0f, 12), v = Random(M * ld, -1.0f, 1.0f, 13);
  const auto vg = Random(M * ld, -1.0f, 1.0f, 14), vf = Random(M * ld, -1.0f, 1.0f, 15);
  const auto w0 = Random(C, -1.0f, 1.0f, 16), a0 = Random(C, -1.0f, 1.0f, 17);
  const auto k_k = Random(C, 0.5f, 1.5f, 18), k_a = Random(C, 0.0f, 1.0f, 19);
  const auto v0 = Random(C, -1.0f, 1.0f, 20);
  for (bool first : {true, false}) {
    std::vector<float> cw = w, ca = a, ck = k, cv = v, cvg = vg, cvf = vf;
    cpu::Rwkv7Prepare(M, H, N, ld, cw.data(), w0.data(), ca.data(), a0.data(), ck.data(),
                      k_k.data(), k_a.data(), cv.data(), cvg.data(), v0.data(), cvf.data(), first);
    Dev<float> gw(w), ga(a), gk(k), gv(v), gvg(vg), gvf(vf), gw0(w0), ga0(a0), gkk(k_k), gka(k_a),
        gv0(v0);
    CUDA_OK(Rwkv7Prepare(M, H, N, ld, gw.get(), gw0.get(), ga.get(), ga0.get(), gk.get(), gkk.get(),
                         gka.get(), gv.get(), gvg.get(), gv0.get(), gvf.get(), first, nullptr));
    EXPECT_LE(RelErr(gw.Host(), cw), 1e-5) << "first=" << first;
    EXPECT_LE(RelErr(ga.Host(), ca), 1e-5) << "first=" << first;
    EXPECT_LE(RelErr(gk.Host(), ck), 1e-5) << "first=" << first;
    EXPECT_LE(RelErr(gv.Host(), cv), 1e-5) << "first=" << first;
    EXPECT_LE(RelErr(gvg.Host(), cvg), 1e-5) << "first=" << first;
    EXPECT_LE(RelErr(gvf.Host(), cvf), 1e-5) << "first=" << first;
  }
  // Output: y <- (GroupNorm(y) + sum(r k r_k) v) g
  const auto y = Random(M * C, -2.0f, 2.0f, 21), r = Random(M * ld, -1.0f, 1.0f, 22);
  const auto g = Random(M * C, -1.0f, 1.0f, 23), r_k = Random(C, -1.0f, 1.0f, 24);
  const auto lw = Random(C, 0.5f, 1.5f, 25), lb = Random(C, -0.5f, 0.5f, 26);
  std::vector<float> cy = y;
  cpu::Rwkv7Output(M, H, N, cy.data(), C, r.data(), k.data(), v.data(), ld, r_k.data(), g.data(), C,
                   lw.data(), lb.data(), 64e-5f);
  Dev<float> gy(y), gr(r), gk(k), gv(v), grk(r_k), gg(g), glw(lw), glb(lb);
  CUDA_OK(Rwkv7Output(M, H, N, gy.get(), C, gr.get(), gk.get(), gv.get(), ld, grk.get(), gg.get(),
                      C, glw.get(), glb.get(), 64e-5f, nullptr));
  EXPECT_LE(RelErr(gy.Host(), cy), 1e-5);

  // RWKV-6 output: GroupNorm(y) * silu(g)
  cy = y;
  cpu::Rwkv6Output(M, H, N, cy.data(), C, g.data(), C, lw.data(), lb.data(), 64e-5f);
  Dev<float> gy6(y);
  CUDA_OK(Rwkv6Output(M, H, N, gy6.get(), C, gg.get(), C, glw.get(), glb.get(), 64e-5f, nullptr));
  EXPECT_LE(RelErr(gy6.Host(), cy), 1e-5);
}

// Inputs of a WKV step: rows of C (stride ld) shaped like the model's (w in
// (0, 1), a = -kk and b = kk * a' with kk unit per head).
struct WkvInputs {
  std::vector<float> r, w, k, v, a, b;
};

WkvInputs MakeWkvInputs(int64_t M, int64_t H, int64_t N, int64_t ld, uint32_t seed) {
  WkvInputs in;
  in.r = Random(M * ld, -1.0f, 1.0f, seed);
  in.w = Random(M * ld, 0.55f, 0.999f, seed + 1);
  in.k = Random(M * ld, -0.5f, 0.5f, seed + 2);
  in.v = Random(M * ld, -1.0f, 1.0f, seed + 3);
  const auto kk = Random(M * ld, -1.0f, 1.0f, seed + 4);
  const auto ap = Random(M * ld, 0.0f, 1.0f, seed + 5);
  in.a.assign(M * ld, 0.0f);
  in.b.assign(M * ld, 0.0f);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t h = 0; h < H; ++h) {
      double ss = 0.0;
      for (int64_t i = 0; i < N; ++i) ss += kk[m * ld + h * N + i] * kk[m * ld + h * N + i];
      const float inv = static_cast<float>(1.0 / std::sqrt(ss));
      for (int64_t i = 0; i < N; ++i) {
        const int64_t o = m * ld + h * N + i;
        in.a[o] = -kk[o] * inv;
        in.b[o] = kk[o] * inv * ap[o];
      }
    }
  }
  return in;
}

TEST_P(GpuRwkvHeads, Wkv7MatchesCpuAndChunkEqualsSteps) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t N = GetParam(), H = 2, C = H * N, ld = C + 16;
  const Seqs seqs = MakeSeqs({3, 1, 6});
  const int64_t M = seqs.M(), slot = H * N * N + 8, off = 8;
  const WkvInputs in = MakeWkvInputs(M, H, N, ld, 30);
  const auto state = Random(seqs.n() * slot, -0.5f, 0.5f, 40);

  std::vector<float> cy(M * C), cstate = state;
  for (int s = 0; s < seqs.n(); ++s) {
    const int64_t o = seqs.starts[s] * ld;
    cpu::Wkv7(seqs.T(s), N, &in.r[o], &in.w[o], &in.k[o], &in.v[o], &in.a[o], &in.b[o], ld,
              &cstate[s * slot + off], &cy[seqs.starts[s] * C], C, 0, H);
  }

  Dev<float> r(in.r), w(in.w), k(in.k), v(in.v), a(in.a), b(in.b);
  Dev<int32_t> starts(seqs.starts);
  Dev<float> y(std::vector<float>(M * C));
  Slots slots(seqs.n(), slot, state);
  CUDA_OK(Wkv7(starts.get(), seqs.n(), H, N, r.get(), w.get(), k.get(), v.get(), a.get(), b.get(),
               ld, slots.dev(), off, y.get(), C, nullptr));
  const std::vector<float> gy = y.Host(), gstate = slots.Host();
  EXPECT_LE(RelErr(gy, cy), 1e-4);
  EXPECT_LE(RelErr(gstate, cstate), 1e-4);
  // The slot's floats outside the WKV matrices are untouched.
  for (int s = 0; s < seqs.n(); ++s)
    for (int64_t i = 0; i < off; ++i) EXPECT_EQ(gstate[s * slot + i], state[s * slot + i]);

  // Chunk == single steps: the last sequence alone, one token per call.
  const int last = seqs.n() - 1;
  Slots one(1, slot, std::vector<float>(state.begin() + last * slot, state.end()));
  Dev<float> y1(std::vector<float>(M * C));
  for (int64_t t = seqs.starts[last]; t < seqs.starts[last + 1]; ++t) {
    // Rows [t, t+1) of the same inputs: the kernel indexes rows absolutely.
    Dev<int32_t> st(std::vector<int32_t>{static_cast<int32_t>(t), static_cast<int32_t>(t + 1)});
    CUDA_OK(Wkv7(st.get(), 1, H, N, r.get(), w.get(), k.get(), v.get(), a.get(), b.get(), ld,
                 one.dev(), off, y1.get(), C, nullptr));
  }
  const std::vector<float> gy1 = y1.Host(), gstate1 = one.Host();
  for (int64_t t = seqs.starts[last] * C; t < M * C; ++t) ASSERT_EQ(gy1[t], gy[t]) << t;
  for (int64_t i = 0; i < slot; ++i) ASSERT_EQ(gstate1[i], gstate[last * slot + i]) << i;
}

TEST_P(GpuRwkvHeads, Rwkv6OpsMatchCpu) {
  RS_SKIP_WITHOUT_GPU();
  const int64_t N = GetParam(), H = 2, C = H * N, ld = C;
  const Seqs seqs = MakeSeqs({2, 5});
  const int64_t M = seqs.M(), slot = H * N * N;
  const auto r = Random(M * ld, -1.0f, 1.0f, 50), k = Random(M * ld, -0.5f, 0.5f, 51);
  const auto v = Random(M * ld, -1.0f, 1.0f, 52), u = Random(C, -1.0f, 1.0f, 53);
  const auto wraw = Random(M * ld, -2.0f, 1.0f, 54), td = Random(C, -3.0f, -0.5f, 55);
  const auto state = Random(seqs.n() * slot, -0.5f, 0.5f, 56);

  // Decay
  std::vector<float> cw = wraw;
  cpu::Rwkv6Decay(M, C, cw.data(), ld, td.data());
  Dev<float> gw(wraw), gtd(td);
  CUDA_OK(Rwkv6Decay(M, C, gw.get(), ld, gtd.get(), nullptr));
  EXPECT_LE(RelErr(gw.Host(), cw), 1e-5);

  // WKV (on the CPU's decays, so both recurrences see the same inputs)
  std::vector<float> cy(M * C), cstate = state;
  for (int s = 0; s < seqs.n(); ++s) {
    const int64_t o = seqs.starts[s] * ld;
    cpu::Wkv6(seqs.T(s), N, &r[o], &cw[o], &k[o], &v[o], ld, u.data(), &cstate[s * slot],
              &cy[seqs.starts[s] * C], C, 0, H);
  }
  Dev<float> gr(r), gk(k), gv(v), gu(u), gw2(cw), gy(std::vector<float>(M * C));
  Dev<int32_t> starts(seqs.starts);
  Slots slots(seqs.n(), slot, state);
  CUDA_OK(Wkv6(starts.get(), seqs.n(), H, N, gr.get(), gw2.get(), gk.get(), gv.get(), ld, gu.get(),
               slots.dev(), 0, gy.get(), C, nullptr));
  EXPECT_LE(RelErr(gy.Host(), cy), 1e-4);
  EXPECT_LE(RelErr(slots.Host(), cstate), 1e-4);

  // Mix: m_j <- x + dx * (maa_j + m_j)
  const auto x = Random(M * C, -1.0f, 1.0f, 57), dx = Random(M * C, -1.0f, 1.0f, 58);
  const auto maa = Random(5 * C, 0.0f, 1.0f, 59), mm = Random(M * 5 * C, -0.3f, 0.3f, 60);
  std::vector<float> cm = mm;
  const float* maas[5];
  for (int j = 0; j < 5; ++j) maas[j] = maa.data() + j * C;
  cpu::Rwkv6Mix(M, C, x.data(), dx.data(), C, maas, cm.data(), 5 * C);
  Dev<float> gx(x), gdx(dx), gmaa(maa), gm(mm);
  CUDA_OK(Rwkv6Mix(M, C, gx.get(), gdx.get(), C, gmaa.get(), gm.get(), 5 * C, nullptr));
  EXPECT_LE(RelErr(gm.Host(), cm), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(HeadSizes, GpuRwkvHeads, ::testing::Values(16, 32, 48, 64, 128),
                         [](const ::testing::TestParamInfo<int>& info) {
                           std::string name =
                               "N";  // (not "N" + ...: GCC 12 -Wrestrict false positive)
                           name += std::to_string(info.param);
                           return name;
                         });

}  // namespace
}  // namespace rs::kernels::cuda
