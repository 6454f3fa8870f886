#include "engine/models/cuda/rwkv_cuda.h"

#include "kernels/cuda/model_ops.h"
#include "kernels/cuda/rwkv_ops.h"

namespace rs::engine::cuda_model {

Status RwkvCudaModel::InitRwkv(const Model& cpu, const RwkvModel& m) {
  RS_RETURN_IF_ERROR(InitBase(cpu));
  C_ = m.embedding().k;
  V_ = m.embedding().n;
  H_ = m.n_head();
  N_ = m.head_size();
  F_ = m.ffn_size();
  if (N_ % 16 != 0 || N_ > 256)
    return UnimplementedError("CUDA RWKV: head size must be a multiple of 16, <= 256");
  RS_RETURN_IF_ERROR(emb_.Upload(m.embedding()));
  RS_RETURN_IF_ERROR(head_.Upload(m.head()));
  for (auto [dst, src] : {std::pair{&ln0_w_, &m.ln0_w()},
                          {&ln0_b_, &m.ln0_b()},
                          {&ln_out_w_, &m.ln_out_w()},
                          {&ln_out_b_, &m.ln_out_b()}}) {
    RS_RETURN_IF_ERROR(dst->Upload(*src));
  }
  blocks_ = std::vector<RwkvGpuBlock>(m.blocks().size());
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const RwkvModel::Block& b = m.blocks()[i];
    RwkvGpuBlock& g = blocks_[i];
    g.gated = b.ffn_receptance.data != nullptr;
    std::vector<float> ffn_mix = b.ffn_mix_k;
    if (g.gated) ffn_mix.insert(ffn_mix.end(), b.ffn_mix_r.begin(), b.ffn_mix_r.end());
    for (auto [dst, src] : {std::pair{&g.ln1_w, &b.ln1_w},
                            {&g.ln1_b, &b.ln1_b},
                            {&g.ln2_w, &b.ln2_w},
                            {&g.ln2_b, &b.ln2_b},
                            {&g.ln_x_w, &b.ln_x_w},
                            {&g.ln_x_b, &b.ln_x_b},
                            {&g.ffn_mix, &ffn_mix}}) {
      RS_RETURN_IF_ERROR(dst->Upload(*src));
    }
    for (auto [dst, src] : {std::pair{&g.r, &b.att_receptance},
                            {&g.k, &b.att_key},
                            {&g.v, &b.att_value},
                            {&g.o, &b.att_output},
                            {&g.ffn_key, &b.ffn_key},
                            {&g.ffn_value, &b.ffn_value}}) {
      RS_RETURN_IF_ERROR(dst->Upload(*src));
    }
    if (g.gated) RS_RETURN_IF_ERROR(g.ffn_receptance.Upload(b.ffn_receptance));
    g.att_shift_off = b.att_shift_off;
    g.wkv_off = b.wkv_off;
    g.ffn_shift_off = b.ffn_shift_off;
  }
  return OkStatus();
}

cudaError_t RwkvCudaModel::EnsureRwkvScratch(int64_t M, bool* grew) {
  const bool gated = !blocks_.empty() && blocks_[0].gated;
  return ResizeFloats({{&hidden_, M * C_},
                       {&normed_, M * C_},
                       {&out_, M * C_},
                       {&ffn_mix_, M * 2 * C_},
                       {&ffn_k_, M * F_},
                       {&ffn_r_, gated ? M * C_ : 1}},
                      grew);
}

Status RwkvCudaModel::EnqueueModel(const StepDims& d) {
  namespace kc = kernels::cuda;
  const int64_t M = d.M, C = C_;
  constexpr float kEps = RwkvModel::kLayerNormEps;
  float* hidden = hidden_.as<float>();
  float* normed = normed_.as<float>();
  float* out = out_.as<float>();
  RS_CUDA(kc::GatherRows(emb_.w, d_tokens(), M, hidden, stream_), "embedding");
  RS_CUDA(kc::RwkvLayerNorm(hidden, M, C, C, ln0_w_.ptr, ln0_b_.ptr, kEps, hidden, C, stream_),
          "ln0");
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const RwkvGpuBlock& b = blocks_[i];
    if (i == 0) {
      RS_CUDA(
          kc::RwkvLayerNorm(hidden, M, C, C, b.ln1_w.ptr, b.ln1_b.ptr, kEps, normed, C, stream_),
          "ln1");
    } else {
      RS_CUDA(
          kc::RwkvAddLayerNorm(hidden, out, M, C, b.ln1_w.ptr, b.ln1_b.ptr, kEps, normed, stream_),
          "ln1");
    }
    RS_RETURN_IF_ERROR(TimeMix(i, d, normed, out));
    RS_CUDA(
        kc::RwkvAddLayerNorm(hidden, out, M, C, b.ln2_w.ptr, b.ln2_b.ptr, kEps, normed, stream_),
        "ln2");
    RS_RETURN_IF_ERROR(ChannelMix(b, d, normed, out));
  }
  RS_CUDA(kc::RwkvAdd(hidden, out, M, C, stream_), "residual");
  // ln_out and head on the rows that need logits.
  const GpuWeight rows_of_hidden{GpuWeightType::kF32, hidden, M, C};
  RS_CUDA(kc::GatherRows(rows_of_hidden, d_rows(), d.n_rows, normed, stream_), "logit rows");
  RS_CUDA(kc::RwkvLayerNorm(normed, d.n_rows, C, C, ln_out_w_.ptr, ln_out_b_.ptr, kEps, normed, C,
                            stream_),
          "ln_out");
  RS_CUDA(gemm_.Run(normed, d.n_rows, C, head_.w, nullptr, logits_dev(), V_), "head");
  return OkStatus();
}

// relu(key(x_k))² -> value; RWKV-6 then multiplies by sigmoid(receptance(x_r)).
Status RwkvCudaModel::ChannelMix(const RwkvGpuBlock& b, const StepDims& d, const float* x,
                                 float* out) {
  namespace kc = kernels::cuda;
  const int64_t M = d.M, C = C_, ldm = 2 * C_;
  float* mix = ffn_mix_.as<float>();  // x_k in columns [0, C), x_r in [C, 2C)
  RS_CUDA(kc::RwkvTokenShiftMix(x, M, C, C, d_starts(), d.n_seq, d_slots(),
                                static_cast<int64_t>(b.ffn_shift_off), b.gated ? 2 : 1,
                                b.ffn_mix.ptr, mix, C, ldm, stream_),
          "ffn shift");
  float* k = ffn_k_.as<float>();
  RS_CUDA(gemm_.Run(mix, M, ldm, b.ffn_key.w, nullptr, k, F_), "ffn key");
  RS_CUDA(kc::RwkvActivate(kc::RwkvActivation::kReluSquare, k, M, F_, F_, stream_), "relu2");
  RS_CUDA(gemm_.Run(k, M, F_, b.ffn_value.w, nullptr, out, C), "ffn value");
  if (b.gated) {
    float* r = ffn_r_.as<float>();
    RS_CUDA(gemm_.Run(mix + C, M, ldm, b.ffn_receptance.w, nullptr, r, C), "ffn receptance");
    RS_CUDA(kc::RwkvMulSigmoid(out, C, r, C, M, C, stream_), "ffn gate");
  }
  return OkStatus();
}

}  // namespace rs::engine::cuda_model
