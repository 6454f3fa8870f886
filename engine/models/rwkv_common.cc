#include "engine/models/rwkv_common.h"

#include <algorithm>

#include "kernels/cpu/rwkv_ops.h"

namespace rs::engine {

namespace {
// Rows per task of the per-row elementwise ops: at most this many, and
// fewer for small steps so a 16-sequence decode step still uses every thread.
constexpr int64_t kRowBlock = 16;
}  // namespace

Status RwkvModel::InitCommon(Arch arch, const std::string& arch_tag, int64_t n_head,
                             int64_t head_size) {
  WeightLoader& w = weights_;
  RS_ASSIGN_OR_RETURN(emb_, w.Matrix("emb.weight", -1, -1));
  V_ = emb_.n;
  C_ = emb_.k;
  H_ = n_head;
  N_ = head_size;
  if (H_ * N_ != C_) {
    return InvalidArgumentError("heads (" + std::to_string(H_) + " x " + std::to_string(N_) +
                                ") do not cover n_embd " + std::to_string(C_));
  }
  if (N_ % 16 != 0 || N_ > 256) {
    return UnimplementedError("head size " + std::to_string(N_) +
                              " is not a multiple of 16 up to 256");
  }
  RS_ASSIGN_OR_RETURN(head_, w.Matrix("head.weight", V_, C_));
  RS_ASSIGN_OR_RETURN(ln0_w_, w.Vector("blocks.0.ln0.weight", C_));
  RS_ASSIGN_OR_RETURN(ln0_b_, w.Vector("blocks.0.ln0.bias", C_));
  RS_ASSIGN_OR_RETURN(ln_out_w_, w.Vector("ln_out.weight", C_));
  RS_ASSIGN_OR_RETURN(ln_out_b_, w.Vector("ln_out.bias", C_));

  int64_t n_layer = 0;
  while (store_->Find("blocks." + std::to_string(n_layer) + ".ln1.weight") != nullptr) ++n_layer;
  if (n_layer == 0) return InvalidArgumentError("no RWKV blocks found (blocks.0.ln1.weight)");
  blocks_.resize(static_cast<size_t>(n_layer));
  spec_.matmul_params_per_token = head_.n * head_.k;
  spec_.decode_bytes_per_step = MatrixBytes(head_);
  for (int64_t i = 0; i < n_layer; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    Block& b = blocks_[static_cast<size_t>(i)];
    RS_ASSIGN_OR_RETURN(b.ln1_w, w.Vector(p + "ln1.weight", C_));
    RS_ASSIGN_OR_RETURN(b.ln1_b, w.Vector(p + "ln1.bias", C_));
    RS_ASSIGN_OR_RETURN(b.ln2_w, w.Vector(p + "ln2.weight", C_));
    RS_ASSIGN_OR_RETURN(b.ln2_b, w.Vector(p + "ln2.bias", C_));
    const std::string a = p + "att.";
    RS_ASSIGN_OR_RETURN(b.att_receptance, w.Matrix(a + "receptance.weight", C_, C_));
    RS_ASSIGN_OR_RETURN(b.att_key, w.Matrix(a + "key.weight", C_, C_));
    RS_ASSIGN_OR_RETURN(b.att_value, w.Matrix(a + "value.weight", C_, C_));
    RS_ASSIGN_OR_RETURN(b.att_output, w.Matrix(a + "output.weight", C_, C_));
    for (const kernels::WeightMatrix* m :
         {&b.att_receptance, &b.att_key, &b.att_value, &b.att_output}) {
      CountMatrix(*m);
    }
    RS_ASSIGN_OR_RETURN(b.ln_x_w, w.Vector(a + "ln_x.weight", C_));
    RS_ASSIGN_OR_RETURN(b.ln_x_b, w.Vector(a + "ln_x.bias", C_));
    RS_ASSIGN_OR_RETURN(b.ffn_key, w.Matrix(p + "ffn.key.weight", i == 0 ? -1 : F_, C_));
    F_ = b.ffn_key.n;
    RS_ASSIGN_OR_RETURN(b.ffn_value, w.Matrix(p + "ffn.value.weight", C_, F_));
    CountMatrix(b.ffn_key);
    CountMatrix(b.ffn_value);
    if (arch == Arch::kRwkv7) {
      RS_ASSIGN_OR_RETURN(b.ffn_mix_k, w.Vector(p + "ffn.x_k", C_));
    } else {  // RWKV-6: data-independent mixing for k and r, and a receptance gate
      RS_ASSIGN_OR_RETURN(b.ffn_mix_k, w.Vector(p + "ffn.time_maa_k", C_));
      RS_ASSIGN_OR_RETURN(b.ffn_mix_r, w.Vector(p + "ffn.time_maa_r", C_));
      RS_ASSIGN_OR_RETURN(b.ffn_receptance, w.Matrix(p + "ffn.receptance.weight", C_, C_));
      CountMatrix(b.ffn_receptance);
    }
    RS_RETURN_IF_ERROR(InitTimeMix(i, p));
  }

  spec_.arch = arch;
  spec_.d_model = C_;
  spec_.n_layer = n_layer;
  spec_.vocab_size = V_;
  spec_.weight_dtype = WeightTypeName(blocks_[0].ffn_key.type);
  spec_.weight_bytes = w.weight_bytes();
  for (int64_t i = 0; i < n_layer; ++i) {
    Block& b = blocks_[static_cast<size_t>(i)];
    const std::string p = "layers." + std::to_string(i);
    const int li = static_cast<int>(i);
    b.att_shift_off = spec_.state.Add(p + ".att_shift", li, {C_});
    b.wkv_off = spec_.state.Add(p + ".wkv", li, {H_, N_, N_});
    b.ffn_shift_off = spec_.state.Add(p + ".ffn_shift", li, {C_});
  }
  spec_.details = "n_embd=" + std::to_string(C_) + " n_layer=" + std::to_string(n_layer) +
                  " n_head=" + std::to_string(H_) + " head_size=" + std::to_string(N_) +
                  " ffn=" + std::to_string(F_) + " vocab=" + std::to_string(V_) + " " +
                  TimeMixDetails();
  spec_.fingerprint = Fingerprint(arch_tag, spec_.details, *store_);
  return OkStatus();
}

void RwkvModel::CountMatrix(const kernels::WeightMatrix& m) {
  spec_.matmul_params_per_token += m.n * m.k;
  spec_.decode_bytes_per_step += MatrixBytes(m);
}

void RwkvModel::CountMatrix(const KMajorMatrix& m) {
  spec_.matmul_params_per_token += m.k * m.n;
  spec_.decode_bytes_per_step += static_cast<size_t>(m.k * m.n) * sizeof(float);
}

void RwkvModel::ForRows(int64_t M, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t threads = pool_.size();
  const int64_t block = std::clamp<int64_t>((M + 2 * threads - 1) / (2 * threads), 1, kRowBlock);
  const int64_t tasks = (M + block - 1) / block;
  if (tasks <= 1 || threads == 1) {
    fn(0, M);
    return;
  }
  pool_.ParallelFor(static_cast<int>(tasks), [&](int t) {
    const int64_t m0 = t * block;
    fn(m0, std::min(M, m0 + block));
  });
}

void RwkvModel::ForSeqHeads(const Step& step,
                            const std::function<void(size_t, int64_t, int64_t)>& fn) {
  const auto n_seq = static_cast<int64_t>(step.n_seq());
  // One head per task (a head's WKV state is its own): enough tasks to
  // balance the threads even for a single sequence.
  const int64_t tasks = n_seq * H_;
  if (tasks == 1 || pool_.size() == 1) {
    for (size_t s = 0; s < step.n_seq(); ++s) fn(s, 0, H_);
    return;
  }
  pool_.ParallelFor(static_cast<int>(tasks), [&](int t) {
    const int64_t h = t % H_;
    fn(static_cast<size_t>(t / H_), h, h + 1);
  });
}

void RwkvModel::EnsureScratch(int64_t m) {
  if (m <= scratch_rows_) {
    return;
  }
  scratch_rows_ = std::max<int64_t>(m, 16);
  const auto rows = static_cast<size_t>(scratch_rows_);
  const auto C = static_cast<size_t>(C_);
  hidden_.resize(rows * C);
  normed_.resize(rows * C);
  out_.resize(rows * C);
  ffn_mix_.resize(rows * 2 * C);
  ffn_ld_ = kernels::ActivationStride(F_);
  ffn_k_.resize(rows * static_cast<size_t>(ffn_ld_));
  ffn_r_.resize(blocks_[0].ffn_receptance.data != nullptr ? rows * C : 0);
  EnsureTimeMixScratch(scratch_rows_);
}

void RwkvModel::ChannelMix(const Block& b, const Step& step, const float* x, float* out) {
  const bool gated = b.ffn_receptance.data != nullptr;
  const float* mix[2] = {b.ffn_mix_k.data(), b.ffn_mix_r.data()};
  for (size_t s = 0; s < step.n_seq(); ++s) {
    const int64_t r = step.row0[s];
    kernels::TokenShiftMix(x + r * C_, step.T(s), C_, C_, step.State(s, b.ffn_shift_off),
                           gated ? 2 : 1, mix, &ffn_mix_[static_cast<size_t>(r * 2 * C_)], C_,
                           2 * C_);
  }
  const int64_t M = step.M;
  // key (and RWKV-6's receptance) in one parallel region.
  const kernels::GemmJob jobs[] = {
      {ffn_mix_.data(), M, 2 * C_, &b.ffn_key, nullptr, ffn_k_.data(), ffn_ld_},
      {ffn_mix_.data() + C_, M, 2 * C_, &b.ffn_receptance, nullptr, ffn_r_.data(), C_}};
  kernels::GemmMany(std::span<const kernels::GemmJob>(jobs, gated ? 2 : 1), &pool_);
  ForRows(M, [&](int64_t m0, int64_t m1) {
    kernels::Activate(kernels::Activation::kReluSquare, &ffn_k_[static_cast<size_t>(m0 * ffn_ld_)],
                      m1 - m0, F_, ffn_ld_);
  });
  kernels::Gemm(ffn_k_.data(), M, ffn_ld_, b.ffn_value, nullptr, out, C_, &pool_);
  if (gated) {
    ForRows(M, [&](int64_t m0, int64_t m1) {
      kernels::Activate(kernels::Activation::kSigmoid, &ffn_r_[static_cast<size_t>(m0 * C_)],
                        m1 - m0, C_, C_);
      for (int64_t i = m0 * C_; i < m1 * C_; ++i) out[i] *= ffn_r_[static_cast<size_t>(i)];
    });
  }
}

Status RwkvModel::Forward(const Batch& batch, StatePool& pool, Logits* logits) {
  RS_RETURN_IF_ERROR(ValidateBatch(batch, pool, spec_));
  Step step;
  step.batch = &batch;
  step.pool = &pool;
  step.row0 = TokenRowStarts(batch);
  const int64_t M = step.row0.back();
  step.M = M;
  EnsureScratch(M);

  // x = ln0(emb[token]): the fp32 residual stream.
  EmbedTokens(emb_, batch, step.row0, hidden_.data(), C_);
  ForRows(M, [&](int64_t m0, int64_t m1) {
    float* h = &hidden_[static_cast<size_t>(m0 * C_)];
    kernels::LayerNorm(h, m1 - m0, C_, C_, ln0_w_.data(), ln0_b_.data(), kLayerNormEps, h, C_);
  });

  const auto add_residual = [&](int64_t m0, int64_t m1) {
    for (int64_t i = m0 * C_; i < m1 * C_; ++i)
      hidden_[static_cast<size_t>(i)] += out_[static_cast<size_t>(i)];
  };
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    ForRows(M, [&](int64_t m0, int64_t m1) {
      kernels::LayerNorm(&hidden_[static_cast<size_t>(m0 * C_)], m1 - m0, C_, C_, b.ln1_w.data(),
                         b.ln1_b.data(), kLayerNormEps, &normed_[static_cast<size_t>(m0 * C_)], C_);
    });
    TimeMix(static_cast<int64_t>(i), step, normed_.data(), out_.data());
    ForRows(M, [&](int64_t m0, int64_t m1) {
      add_residual(m0, m1);
      kernels::LayerNorm(&hidden_[static_cast<size_t>(m0 * C_)], m1 - m0, C_, C_, b.ln2_w.data(),
                         b.ln2_b.data(), kLayerNormEps, &normed_[static_cast<size_t>(m0 * C_)], C_);
    });
    ChannelMix(b, step, normed_.data(), out_.data());
    ForRows(M, add_residual);
  }

  // ln_out, then head on the rows that need logits (embed sequences: the sum
  // of their normed rows instead).
  FinalNormAndHead(
      batch, step.row0, hidden_.data(), C_,
      [&](const float* x, int64_t rows, float* y) {
        kernels::LayerNorm(x, rows, C_, C_, ln_out_w_.data(), ln_out_b_.data(), kLayerNormEps, y,
                           C_);
      },
      head_, normed_.data(), &pool_, logits);
  return OkStatus();
}

}  // namespace rs::engine
