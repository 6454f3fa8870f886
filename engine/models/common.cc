#include "engine/models/common.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "engine/util/hash.h"
#include "kernels/cpu/rmsnorm.h"

namespace rs::engine {

StatusOr<const Tensor*> WeightLoader::Rank2(const std::string& name, int64_t d0, int64_t d1) const {
  const Tensor* t = store_->Find(name);
  if (t == nullptr) return InvalidArgumentError("missing tensor " + name);
  if (t->rank() != 2 || (d0 >= 0 && t->dim(0) != d0) || (d1 >= 0 && t->dim(1) != d1) || t->dim(0) <= 0 ||
      t->dim(1) <= 0) {
    return InvalidArgumentError("tensor " + name + " has shape " + t->ShapeString() + ", expected [" +
                                (d0 >= 0 ? std::to_string(d0) : std::string("*")) + ", " +
                                (d1 >= 0 ? std::to_string(d1) : std::string("*")) + "]");
  }
  return t;
}

StatusOr<kernels::WeightMatrix> WeightLoader::Matrix(const std::string& name, int64_t n, int64_t k) {
  RS_ASSIGN_OR_RETURN(const Tensor* t, Rank2(name, n, k));
  kernels::WeightMatrix m;
  m.n = t->dim(0);
  m.k = t->dim(1);
  switch (t->dtype) {
    case DType::kF32: m.type = kernels::WeightType::kF32; m.data = t->data; break;
    case DType::kF16: m.type = kernels::WeightType::kF16; m.data = t->data; break;
    case DType::kBF16: m.type = kernels::WeightType::kBF16; m.data = t->data; break;
    case DType::kF64: {
      auto buf = std::make_unique<float[]>(static_cast<size_t>(t->numel()));
      ConvertToF32(t->dtype, t->data, static_cast<size_t>(t->numel()), buf.get());
      m.type = kernels::WeightType::kF32;
      m.data = buf.get();
      owned_.push_back(std::move(buf));
      break;
    }
    default:
      return UnimplementedError("tensor " + name + " has unsupported dtype " + DTypeName(t->dtype));
  }
  weight_bytes_ += MatrixBytes(m);
  return m;
}

StatusOr<kernels::WeightMatrix> WeightLoader::TransposedMatrix(const std::string& name, int64_t k,
                                                              int64_t n) {
  RS_ASSIGN_OR_RETURN(const Tensor* t, Rank2(name, k, n));
  const int64_t rows = t->dim(0), cols = t->dim(1);
  std::vector<float> src(static_cast<size_t>(rows * cols));
  if (!ConvertToF32(t->dtype, t->data, src.size(), src.data())) {
    return UnimplementedError("tensor " + name + " has unsupported dtype " + DTypeName(t->dtype));
  }
  auto buf = std::make_unique<float[]>(src.size());
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) buf[static_cast<size_t>(j * rows + i)] = src[static_cast<size_t>(i * cols + j)];
  }
  kernels::WeightMatrix m;
  m.type = kernels::WeightType::kF32;
  m.data = buf.get();
  m.n = cols;
  m.k = rows;
  owned_.push_back(std::move(buf));
  weight_bytes_ += MatrixBytes(m);
  return m;
}

StatusOr<KMajorMatrix> WeightLoader::KMajor(const std::string& name, int64_t k, int64_t n) {
  RS_ASSIGN_OR_RETURN(const Tensor* t, Rank2(name, k, n));
  KMajorMatrix m;
  m.k = t->dim(0);
  m.n = t->dim(1);
  RS_ASSIGN_OR_RETURN(m.data, Vector(name, m.k * m.n));
  return m;
}

StatusOr<std::vector<float>> WeightLoader::Vector(const std::string& name, int64_t numel) {
  const Tensor* t = store_->Find(name);
  if (t == nullptr) return InvalidArgumentError("missing tensor " + name);
  if (t->numel() != numel) {
    return InvalidArgumentError("tensor " + name + " has shape " + t->ShapeString() + " (" +
                                std::to_string(t->numel()) + " elements), expected " +
                                std::to_string(numel) + " elements");
  }
  std::vector<float> v(static_cast<size_t>(numel));
  if (!ConvertToF32(t->dtype, t->data, v.size(), v.data())) {
    return UnimplementedError("tensor " + name + " has unsupported dtype " + DTypeName(t->dtype));
  }
  weight_bytes_ += v.size() * sizeof(float);
  return v;
}

StatusOr<std::vector<float>> WeightLoader::Vector2D(const std::string& name, int64_t d0, int64_t d1) {
  RS_RETURN_IF_ERROR(Rank2(name, d0, d1).status());
  return Vector(name, d0 * d1);
}

StatusOr<std::vector<float>> WeightLoader::OptionalVector(const std::string& name, int64_t numel) {
  if (store_->Find(name) == nullptr) return std::vector<float>();
  return Vector(name, numel);
}

int ResolveThreadCount(const LoadOptions& options) {
  return options.n_threads > 0 ? options.n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::vector<int64_t> TokenRowStarts(const Batch& batch) {
  std::vector<int64_t> starts(batch.seqs.size() + 1, 0);
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    starts[s + 1] = starts[s] + static_cast<int64_t>(batch.seqs[s].tokens.size());
  }
  return starts;
}

void ResidualAndRmsNorm(kernels::ThreadPool& pool, float* hidden, const float* proj, int64_t M,
                        int64_t D, const float* norm_w, float eps, float* out, int64_t ldo) {
  constexpr int64_t kRows = 32;
  pool.ParallelFor(static_cast<int>((M + kRows - 1) / kRows), [&](int task) {
    const int64_t m0 = task * kRows, m1 = std::min(M, m0 + kRows);
    float* h = hidden + m0 * D;
    if (proj != nullptr) {
      const float* p = proj + m0 * D;
      for (int64_t i = 0; i < (m1 - m0) * D; ++i) h[i] += p[i];
    }
    if (norm_w != nullptr) kernels::RmsNorm(h, m1 - m0, D, D, norm_w, eps, out + m0 * ldo, ldo);
  });
}

void EmbedTokens(const kernels::WeightMatrix& embedding, const Batch& batch,
                 const std::vector<int64_t>& row_starts, float* out, int64_t ld) {
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    const SeqChunk& c = batch.seqs[s];
    for (size_t t = 0; t < c.tokens.size(); ++t) {
      kernels::WeightRowToF32(embedding, c.tokens[t], out + (row_starts[s] + static_cast<int64_t>(t)) * ld);
    }
  }
}

std::vector<int64_t> LogitRows(const Batch& batch, const std::vector<int64_t>& row_starts, Logits* logits) {
  std::vector<int64_t> rows;
  logits->row_offset.assign(batch.seqs.size(), -1);
  logits->embed_offset.assign(batch.seqs.size(), -1);
  logits->embed_sums.clear();
  int64_t n_embed = 0;
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    if (batch.seqs[s].embed) {
      logits->embed_offset[s] = n_embed++;
      continue;
    }
    logits->row_offset[s] = static_cast<int64_t>(rows.size());
    if (batch.seqs[s].all_logits) {
      for (int64_t r = row_starts[s]; r < row_starts[s + 1]; ++r) rows.push_back(r);
    } else {
      rows.push_back(row_starts[s + 1] - 1);
    }
  }
  return rows;
}

void FinalNormAndHead(const Batch& batch, const std::vector<int64_t>& row_starts,
                      const float* hidden, int64_t d_model,
                      const std::function<void(const float* x, int64_t rows, float* y)>& final_norm,
                      const kernels::WeightMatrix& head, float* normed, kernels::ThreadPool* pool,
                      Logits* logits) {
  const int64_t D = d_model;
  const std::vector<int64_t> rows = LogitRows(batch, row_starts, logits);
  const auto n_rows = static_cast<int64_t>(rows.size());
  // normed: (n_rows, D) logits rows first, then every embed sequence's rows.
  for (int64_t i = 0; i < n_rows; ++i) {
    final_norm(hidden + rows[static_cast<size_t>(i)] * D, 1, normed + i * D);
  }
  logits->d_model = D;
  int64_t n_embed = 0;
  for (const SeqChunk& c : batch.seqs) n_embed += c.embed ? 1 : 0;
  logits->embed_sums.assign(static_cast<size_t>(n_embed * D), 0.0f);
  int64_t at = n_rows;  // next free row of `normed`
  for (size_t s = 0; s < batch.seqs.size(); ++s) {
    if (!batch.seqs[s].embed) continue;
    const int64_t r0 = row_starts[s], T = row_starts[s + 1] - r0;
    float* y = normed + at * D;
    // Long chunks (a prompt being embedded) norm their rows in parallel.
    constexpr int64_t kRowsPerTask = 32;
    const int64_t tasks = (T + kRowsPerTask - 1) / kRowsPerTask;
    if (tasks <= 1 || pool == nullptr) {
      final_norm(hidden + r0 * D, T, y);
    } else {
      pool->ParallelFor(static_cast<int>(tasks), [&](int task) {
        const int64_t t0 = task * kRowsPerTask, t1 = std::min(T, t0 + kRowsPerTask);
        final_norm(hidden + (r0 + t0) * D, t1 - t0, y + t0 * D);
      });
    }
    // sum: (D) = Σ_t y[t, :], in position order.
    float* sum = logits->embed_sums.data() + logits->embed_offset[s] * D;
    for (int64_t t = 0; t < T; ++t) {
      const float* row = y + t * D;
      for (int64_t d = 0; d < D; ++d) sum[d] += row[d];
    }
    at += T;
  }
  logits->vocab_size = head.n;
  logits->data.resize(static_cast<size_t>(n_rows * head.n));
  if (n_rows > 0)
    kernels::Gemm(normed, n_rows, D, head, nullptr, logits->data.data(), head.n, pool);
}

StatusOr<MambaBackbone> LoadMambaBackbone(const io::TensorStore& store, WeightLoader& w, const char* arch) {
  MambaBackbone b;
  const std::string emb_name =
      store.Find("backbone.embeddings.weight") ? "backbone.embeddings.weight" : "backbone.embedding.weight";
  RS_ASSIGN_OR_RETURN(b.embedding, w.Matrix(emb_name, -1, -1));
  b.vocab = b.embedding.n;
  b.d_model = b.embedding.k;
  if (store.Find("lm_head.weight") != nullptr) {
    RS_ASSIGN_OR_RETURN(b.lm_head, w.Matrix("lm_head.weight", b.vocab, b.d_model));
  } else {
    b.lm_head = b.embedding;  // tied
  }
  RS_ASSIGN_OR_RETURN(b.norm_f, w.Vector("backbone.norm_f.weight", b.d_model));
  while (store.Find("backbone.layers." + std::to_string(b.n_layer) + ".mixer.A_log") != nullptr) ++b.n_layer;
  if (b.n_layer == 0) {
    return InvalidArgumentError(std::string("no ") + arch + " layers found (backbone.layers.0.mixer.A_log)");
  }
  return b;
}

const char* WeightTypeName(kernels::WeightType t) {
  switch (t) {
    case kernels::WeightType::kF32: return "F32";
    case kernels::WeightType::kF16: return "F16";
    case kernels::WeightType::kBF16: return "BF16";
  }
  return "?";
}

size_t MatrixBytes(const kernels::WeightMatrix& m) {
  return static_cast<size_t>(m.n * m.k) * (m.type == kernels::WeightType::kF32 ? 4 : 2);
}

Status ValidateBatch(const Batch& batch, const StatePool& pool, const ModelSpec& spec) {
  if (batch.seqs.empty()) return InvalidArgumentError("empty batch");
  if (std::string(pool.device()) != spec.device) {
    return InvalidArgumentError(std::string("state pool on ") + pool.device() + " given to a model on " + spec.device);
  }
  if (pool.model_fingerprint() != spec.fingerprint ||
      pool.layout().floats_per_sequence != spec.state.floats_per_sequence) {
    return InvalidArgumentError("state pool belongs to another model");
  }
  std::vector<bool> seen(static_cast<size_t>(pool.n_slots()), false);
  for (const SeqChunk& c : batch.seqs) {
    if (c.slot < 0 || c.slot >= pool.n_slots() || !pool.InUse(c.slot)) {
      return InvalidArgumentError("state slot " + std::to_string(c.slot) + " is not an acquired slot");
    }
    if (seen[static_cast<size_t>(c.slot)]) {
      return InvalidArgumentError("state slot " + std::to_string(c.slot) + " appears twice in one batch");
    }
    seen[static_cast<size_t>(c.slot)] = true;
    if (c.tokens.empty()) return InvalidArgumentError("a sequence in the batch has no tokens");
    if (c.embed && c.all_logits)
      return InvalidArgumentError("a sequence asks for both an embedding and logits");
    for (int32_t tok : c.tokens) {
      if (tok < 0 || tok >= spec.vocab_size) {
        return InvalidArgumentError("token id " + std::to_string(tok) + " is out of range [0, " +
                                    std::to_string(spec.vocab_size) + ")");
      }
    }
  }
  return OkStatus();
}

std::string Fingerprint(const std::string& arch, const std::string& details,
                        const io::TensorStore& store) {
  std::string key = arch + "|" + details;
  std::vector<const Tensor*> ts;
  for (const Tensor& t : store.tensors()) ts.push_back(&t);
  std::sort(ts.begin(), ts.end(), [](const Tensor* a, const Tensor* b) { return a->name < b->name; });
  uint64_t h = Hash64(key.data(), key.size());
  for (const Tensor* t : ts) {
    std::string meta = t->name + "|" + DTypeName(t->dtype) + "|" + t->ShapeString();
    h = Hash64(meta.data(), meta.size(), h);
    // Sample up to 3 × 4 KiB of the data: start, middle, end.
    const auto* p = static_cast<const unsigned char*>(t->data);
    const size_t n = t->nbytes, chunk = std::min<size_t>(n, 4096);
    h = Hash64(p, chunk, h);
    h = Hash64(p + (n - chunk) / 2, chunk, h);
    h = Hash64(p + (n - chunk), chunk, h);
  }
  return HexU64(h);
}

}  // namespace rs::engine
