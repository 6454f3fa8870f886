// What the GPU RWKV-6 and RWKV-7 models share, the CUDA twin of
// engine/models/rwkv_common.h: the blocks' common weights (uploaded once:
// matrices in their checkpoint dtype, vectors F32), and the layer loop
//   x = ln0(emb[token]);  per layer: x += TimeMix(ln1(x)); x += ChannelMix(ln2(x))
//   logits = head(ln_out(x)) on the rows that need logits
// with the channel mix (token shift, relu² FFN, and RWKV-6's sigmoid
// receptance gate when the block has one). Each version implements only its
// time mix. The step driver is CudaModel's. Compiled only with CUDA.
#pragma once

#include <vector>

#include "engine/models/cuda/cuda_model.h"
#include "engine/models/rwkv_common.h"

namespace rs::engine::cuda_model {

struct RwkvGpuBlock {
  GpuVector ln1_w, ln1_b, ln2_w, ln2_b, ln_x_w, ln_x_b;
  GpuVector ffn_mix;  // the channel mix's token-shift coefficients: k (C), then r (C) when gated
  GpuMatrix r, k, v, o, ffn_key, ffn_value, ffn_receptance;
  bool gated = false;  // RWKV-6: out *= sigmoid(receptance(x_r))
  size_t att_shift_off = 0, wkv_off = 0, ffn_shift_off = 0;  // state offsets (floats)
};

class RwkvCudaModel : public CudaModel {
 protected:
  // InitBase, then uploads the embedding, head, ln0/ln_out and every block's
  // common weights from the CPU model m (which cpu is).
  Status InitRwkv(const Model& cpu, const RwkvModel& m);
  // Grows the common scratch to M rows; derived EnsureModelScratch calls it.
  cudaError_t EnsureRwkvScratch(int64_t M, bool* grew);
  // out (M×C) = the time mix of layer i on x (M×C, ln1 applied); updates
  // the layer's token-shift and WKV state of every sequence.
  virtual Status TimeMix(size_t i, const StepDims& d, const float* x, float* out) = 0;

  int64_t C_ = 0, V_ = 0, H_ = 0, N_ = 0, F_ = 0;
  std::vector<RwkvGpuBlock> blocks_;

 private:
  Status EnqueueModel(const StepDims& d) final;
  Status ChannelMix(const RwkvGpuBlock& b, const StepDims& d, const float* x, float* out);

  GpuMatrix emb_, head_;
  GpuVector ln0_w_, ln0_b_, ln_out_w_, ln_out_b_;
  DeviceBuffer hidden_, normed_, out_, ffn_mix_, ffn_k_, ffn_r_;
};

}  // namespace rs::engine::cuda_model
