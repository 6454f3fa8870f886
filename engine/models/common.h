// Helpers shared by the model implementations: typed access to checkpoint
// tensors with shape checks, batch validation, and the model fingerprint.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/model.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/thread_pool.h"

namespace rs::engine {

// A small F32 matrix kept in its `x @ W` layout, K rows of N outputs (BlinkDL's
// LoRA up-projections), for kernels::GemmKMajor.
struct KMajorMatrix {
  std::vector<float> data;
  int64_t k = 0, n = 0;
};

// Reads tensors of a store as kernel operands. Matrices of F32/F16/BF16 are
// used in place (no copy); other float dtypes are converted to owned F32
// copies that live as long as the loader. Every error names the tensor and
// the expected shape.
// Thread-safety: not thread-safe while loading; immutable afterwards.
class WeightLoader {
 public:
  explicit WeightLoader(const io::TensorStore* store) : store_(store) {}

  // A rank-2 tensor of shape (n, k); pass -1 for a dimension to accept any.
  StatusOr<kernels::WeightMatrix> Matrix(const std::string& name, int64_t n, int64_t k);
  // A rank-2 tensor of shape (k, n) used as `x @ W` (BlinkDL's LoRA
  // matrices), transposed into an owned F32 (n, k) matrix so Gemm can use
  // it. Pass -1 to accept any size.
  StatusOr<kernels::WeightMatrix> TransposedMatrix(const std::string& name, int64_t k, int64_t n);
  // A rank-2 tensor of shape (k, n) kept as it is (converted to F32), for
  // GemmKMajor. Pass -1 to accept any size.
  StatusOr<KMajorMatrix> KMajor(const std::string& name, int64_t k, int64_t n);
  // Any-rank float tensor with `numel` elements, converted to F32.
  StatusOr<std::vector<float>> Vector(const std::string& name, int64_t numel);
  // A rank-2 tensor of shape exactly (d0, d1) (e.g. per-head (H, N)
  // parameters), converted to F32; errors name the tensor and the shape.
  StatusOr<std::vector<float>> Vector2D(const std::string& name, int64_t d0, int64_t d1);
  // Like Vector, but an absent tensor gives an empty vector.
  StatusOr<std::vector<float>> OptionalVector(const std::string& name, int64_t numel);

  // Bytes of every tensor read so far as the kernels see them.
  size_t weight_bytes() const { return weight_bytes_; }

 private:
  // The rank-2 tensor `name` with shape (d0, d1) (-1: any); errors name it.
  StatusOr<const Tensor*> Rank2(const std::string& name, int64_t d0, int64_t d1) const;

  const io::TensorStore* store_;
  std::vector<std::unique_ptr<float[]>> owned_;
  size_t weight_bytes_ = 0;
};

// What every Mamba checkpoint shares (Mamba-1 and Mamba-2, HF and original
// layouts): the embedding (HF `backbone.embeddings`, original
// `backbone.embedding`), lm_head (tied to the embedding when absent), norm_f,
// and the layer count (consecutive `backbone.layers.N.mixer.A_log`).
// INVALID_ARGUMENT "no <arch> layers found (...)" without layer 0.
struct MambaBackbone {
  kernels::WeightMatrix embedding, lm_head;
  std::vector<float> norm_f;
  int64_t vocab = 0, d_model = 0, n_layer = 0;
};
StatusOr<MambaBackbone> LoadMambaBackbone(const io::TensorStore& store, WeightLoader& w, const char* arch);

const char* WeightTypeName(kernels::WeightType t);
// Bytes of a weight matrix as the kernels read it.
size_t MatrixBytes(const kernels::WeightMatrix& m);

// LoadOptions::n_threads, or the hardware concurrency when it is 0.
int ResolveThreadCount(const LoadOptions& options);

// Checks a batch against a pool and spec: non-empty, every slot valid, in
// use and used once, every chunk non-empty, every token in [0, vocab), no
// chunk both embed and all_logits.
Status ValidateBatch(const Batch& batch, const StatePool& pool, const ModelSpec& spec);

// The step's token rows: sequence s owns rows [starts[s], starts[s+1]) of
// the (M, ·) activation matrices; starts has n_seq + 1 entries, M last.
std::vector<int64_t> TokenRowStarts(const Batch& batch);

// Writes the embedding row of every token of the step, widened to fp32,
// into out (row stride ld), in token-row order.
void EmbedTokens(const kernels::WeightMatrix& embedding, const Batch& batch,
                 const std::vector<int64_t>& row_starts, float* out, int64_t ld);

// The token rows that need logits (every row of an all_logits sequence,
// none of an embed sequence, else its last), in batch order; sets
// logits->row_offset to match (-1 for embed sequences), numbers the embed
// sequences in logits->embed_offset (-1 for the others) and clears
// logits->embed_sums.
std::vector<int64_t> LogitRows(const Batch& batch, const std::vector<int64_t>& row_starts, Logits* logits);

// Between two layers of a pre-norm residual model (Mamba-1, Mamba-2), rows in
// parallel blocks on `pool`: hidden += proj (when proj is non-null), then,
// when norm_w is non-null, out = RmsNorm(hidden) ⊙ norm_w. Each row gets the
// same operations as the serial loop and kernels::RmsNorm on the whole step.
// hidden and proj: (M, D), row stride D; out: row stride ldo. proj and out
// may be the same buffer only when ldo == D (a block reads its proj rows
// before writing its out rows).
void ResidualAndRmsNorm(kernels::ThreadPool& pool, float* hidden, const float* proj, int64_t M,
                        int64_t D, const float* norm_w, float eps, float* out, int64_t ldo);

// The final stage of a CPU model's step, shared by every architecture.
// hidden: (M, D) residual stream of the step's token rows, rows as
// TokenRowStarts gives them (row_starts). final_norm(x, rows, y) applies the
// model's final norm to `rows` consecutive rows of x into y (both with row
// stride D), each row on its own (a row's result must not depend on the
// others). Then:
//   * every sequence but an embed one: its LogitRows rows are normed and
//     multiplied by `head` (V, D) into logits->data (rows x V);
//   * an embed sequence: the fp32 sum, in position order, of the normed rows
//     of all its positions, into logits->embed_sums; `head` is never run on
//     them.
// `normed`: scratch of at least M x D floats. `pool` runs the norms of long
// embed chunks and the head Gemm. Fills every field of *logits.
void FinalNormAndHead(const Batch& batch, const std::vector<int64_t>& row_starts,
                      const float* hidden, int64_t d_model,
                      const std::function<void(const float* x, int64_t rows, float* y)>& final_norm,
                      const kernels::WeightMatrix& head, float* normed, kernels::ThreadPool* pool,
                      Logits* logits);

// Hex fingerprint of an architecture: its name, the dimension string, and
// every tensor's name, dtype, shape and a sample of its bytes.
std::string Fingerprint(const std::string& arch, const std::string& details,
                        const io::TensorStore& store);

}  // namespace rs::engine
