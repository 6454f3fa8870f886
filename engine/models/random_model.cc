#include "engine/models/random_model.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/models/random_weights.h"
#include "engine/util/json.h"

namespace rs::engine {
namespace {

namespace fs = std::filesystem;
using random_weights::Builder;

}  // namespace

Status WriteRandomMamba1(const std::string& dir, const RandomMamba1Options& o) {
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16) {
    return InvalidArgumentError("random models are written in F32, F16 or BF16");
  }
  if (o.d_model < 1 || o.n_layer < 1 || o.vocab_size < 1 || o.d_state < 1 || o.d_conv < 1 || o.expand < 1) {
    return InvalidArgumentError("random model dimensions must be positive");
  }
  const int64_t D = o.d_model, E = o.expand * o.d_model, N = o.d_state, K = o.d_conv;
  const int64_t R = o.dt_rank > 0 ? o.dt_rank : (D + 15) / 16;
  Builder b;
  b.dtype = o.dtype;
  b.seed = o.seed;
  const auto sz = [](int64_t a, int64_t c = 1) { return static_cast<size_t>(a * c); };

  std::vector<float> emb = b.UniformValues(sz(o.vocab_size, D), 0.02f * std::sqrt(3.0f));
  if (o.printable_bytes && !o.tie_embeddings) {
    // Channel 0 of every embedding is a large constant, so after the final
    // norm it carries a steady positive value that lm_head turns into a
    // penalty on non-printable bytes (below).
    for (int64_t v = 0; v < o.vocab_size; ++v) emb[sz(v * D)] = 0.5f;
  }
  b.Add("backbone.embeddings.weight", {o.vocab_size, D}, emb);
  for (int64_t i = 0; i < o.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    b.Add(p + "norm.weight", {D}, std::vector<float>(sz(D), 1.0f));
    b.Add(p + "mixer.in_proj.weight", {2 * E, D}, b.UniformValues(sz(2 * E, D), 1.0f / std::sqrt(static_cast<float>(D))));
    b.Add(p + "mixer.conv1d.weight", {E, 1, K}, b.UniformValues(sz(E, K), 1.0f / std::sqrt(static_cast<float>(K))));
    b.Add(p + "mixer.conv1d.bias", {E}, b.UniformValues(sz(E), 1.0f / std::sqrt(static_cast<float>(K))));
    b.Add(p + "mixer.x_proj.weight", {R + 2 * N, E}, b.UniformValues(sz(R + 2 * N, E), 1.0f / std::sqrt(static_cast<float>(E))));
    b.Add(p + "mixer.dt_proj.weight", {E, R}, b.UniformValues(sz(E, R), 1.0f / std::sqrt(static_cast<float>(R))));
    // dt = exp(U(log 1e-3, log 1e-1)); bias = dt + log(-expm1(-dt)) (inverse softplus).
    std::vector<float> u = b.UniformValues(sz(E), 1.0f);
    std::vector<float> dt_bias(sz(E));
    for (size_t e = 0; e < dt_bias.size(); ++e) {
      const double lo = std::log(1e-3), hi = std::log(1e-1);
      const double dt = std::exp(lo + (u[e] + 1.0) * 0.5 * (hi - lo));
      dt_bias[e] = static_cast<float>(dt + std::log(-std::expm1(-dt)));
    }
    b.Add(p + "mixer.dt_proj.bias", {E}, dt_bias);
    std::vector<float> a_log(sz(E, N));
    for (int64_t e = 0; e < E; ++e) {
      for (int64_t n = 0; n < N; ++n) a_log[sz(e * N + n)] = std::log(static_cast<float>(n + 1));
    }
    b.Add(p + "mixer.A_log", {E, N}, a_log);
    b.Add(p + "mixer.D", {E}, std::vector<float>(sz(E), 1.0f));
    b.Add(p + "mixer.out_proj.weight", {D, E},
          b.UniformValues(sz(D, E), 1.0f / std::sqrt(static_cast<float>(E)) / std::sqrt(static_cast<float>(o.n_layer))));
  }
  b.Add("backbone.norm_f.weight", {D}, std::vector<float>(sz(D), 1.0f));
  if (!o.tie_embeddings) {
    std::vector<float> head = b.UniformValues(sz(o.vocab_size, D), 1.0f);
    for (int64_t v = 0; v < o.vocab_size; ++v) {
      const bool printable = v == '\n' || (v >= 32 && v < 127);
      const float scale = !o.printable_bytes || printable ? 0.2f : 0.0f;
      for (int64_t d = 0; d < D; ++d) head[sz(v * D + d)] *= scale;
      if (o.printable_bytes) head[sz(v * D)] = printable ? 0.0f : -1.0f;
    }
    b.Add("lm_head.weight", {o.vocab_size, D}, head);
  }

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create " + dir + ": " + ec.message());
  RS_RETURN_IF_ERROR(io::WriteSafetensors(dir + "/model.safetensors", b.tensors, {{"format", "pt"}}));

  json::Value cfg = json::Value::MakeObject();
  cfg.Set("architectures", json::Value::MakeArray({json::Value::String("MambaForCausalLM")}));
  cfg.Set("model_type", json::Value::String("mamba"));
  cfg.Set("hidden_size", json::Value::Int(D));
  cfg.Set("num_hidden_layers", json::Value::Int(o.n_layer));
  cfg.Set("vocab_size", json::Value::Int(o.vocab_size));
  cfg.Set("state_size", json::Value::Int(N));
  cfg.Set("conv_kernel", json::Value::Int(K));
  cfg.Set("expand", json::Value::Int(o.expand));
  cfg.Set("intermediate_size", json::Value::Int(E));
  cfg.Set("time_step_rank", json::Value::Int(R));
  cfg.Set("layer_norm_epsilon", json::Value::Number(1e-5));
  cfg.Set("use_bias", json::Value::Bool(false));
  cfg.Set("use_conv_bias", json::Value::Bool(true));
  cfg.Set("residual_in_fp32", json::Value::Bool(true));
  cfg.Set("tie_word_embeddings", json::Value::Bool(o.tie_embeddings));
  cfg.Set("torch_dtype", json::Value::String(o.dtype == DType::kF32 ? "float32" : o.dtype == DType::kBF16 ? "bfloat16" : "float16"));
  cfg.Set("recurrent_serve_random_weights", json::Value::Bool(true));
  const std::string tmp = dir + "/config.json.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << cfg.Dump() << "\n";
    if (!out) return InternalError("cannot write " + tmp);
  }
  fs::rename(tmp, dir + "/config.json", ec);
  if (ec) return InternalError("cannot write " + dir + "/config.json: " + ec.message());
  return OkStatus();
}

namespace {

// Writes cfg as dir/config.json via a temporary file and a rename.
Status WriteConfigJson(const std::string& dir, const json::Value& cfg) {
  const std::string tmp = dir + "/config.json.tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << cfg.Dump() << "\n";
    if (!out) return InternalError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, dir + "/config.json", ec);
  if (ec) return InternalError("cannot write " + dir + "/config.json: " + ec.message());
  return OkStatus();
}

}  // namespace

Status WriteRandomMamba2(const std::string& dir, const RandomMamba2Options& o) {
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16) {
    return InvalidArgumentError("random models are written in F32, F16 or BF16");
  }
  if (o.d_model < 1 || o.n_layer < 1 || o.vocab_size < 1 || o.d_state < 1 || o.d_conv < 1 || o.expand < 1 ||
      o.head_dim < 1 || o.n_groups < 1 || o.chunk_size < 1) {
    return InvalidArgumentError("random model dimensions must be positive");
  }
  const int64_t D = o.d_model, E = o.expand * o.d_model, N = o.d_state, K = o.d_conv, G = o.n_groups;
  if (E % o.head_dim != 0 || (E / o.head_dim) % G != 0) {
    return InvalidArgumentError("expand * d_model must be a multiple of head_dim, and the heads of n_groups");
  }
  const int64_t H = E / o.head_dim, Cx = E + 2 * G * N, W = 2 * E + 2 * G * N + H;
  Builder b;
  b.dtype = o.dtype;
  b.seed = o.seed;
  const auto sz = [](int64_t a, int64_t c = 1) { return static_cast<size_t>(a * c); };
  const auto inv_sqrt = [](int64_t n) { return 1.0f / std::sqrt(static_cast<float>(n)); };

  b.Add("backbone.embeddings.weight", {o.vocab_size, D}, b.UniformValues(sz(o.vocab_size, D), 0.02f * std::sqrt(3.0f)));
  for (int64_t i = 0; i < o.n_layer; ++i) {
    const std::string p = "backbone.layers." + std::to_string(i) + ".";
    b.Add(p + "norm.weight", {D}, std::vector<float>(sz(D), 1.0f));
    b.Add(p + "mixer.in_proj.weight", {W, D}, b.UniformValues(sz(W, D), inv_sqrt(D)));
    b.Add(p + "mixer.conv1d.weight", {Cx, 1, K}, b.UniformValues(sz(Cx, K), inv_sqrt(K)));
    b.Add(p + "mixer.conv1d.bias", {Cx}, b.UniformValues(sz(Cx), inv_sqrt(K)));
    // dt = exp(U(log 1e-3, log 1e-1)); bias = dt + log(-expm1(-dt)) (inverse softplus).
    std::vector<float> u = b.UniformValues(sz(H), 1.0f);
    std::vector<float> dt_bias(sz(H));
    for (size_t h = 0; h < dt_bias.size(); ++h) {
      const double lo = std::log(1e-3), hi = std::log(1e-1);
      const double dt = std::exp(lo + (u[h] + 1.0) * 0.5 * (hi - lo));
      dt_bias[h] = static_cast<float>(dt + std::log(-std::expm1(-dt)));
    }
    b.Add(p + "mixer.dt_bias", {H}, dt_bias);
    std::vector<float> a = b.UniformValues(sz(H), 1.0f);
    for (float& v : a) v = std::log(1.0f + 7.5f * (v + 1.0f));  // log U(1, 16)
    b.Add(p + "mixer.A_log", {H}, a);
    b.Add(p + "mixer.D", {H}, std::vector<float>(sz(H), 1.0f));
    b.Add(p + "mixer.norm.weight", {E}, std::vector<float>(sz(E), 1.0f));
    b.Add(p + "mixer.out_proj.weight", {D, E},
          b.UniformValues(sz(D, E), inv_sqrt(E) / std::sqrt(static_cast<float>(o.n_layer))));
  }
  b.Add("backbone.norm_f.weight", {D}, std::vector<float>(sz(D), 1.0f));
  if (!o.tie_embeddings) b.Add("lm_head.weight", {o.vocab_size, D}, b.UniformValues(sz(o.vocab_size, D), 0.2f));

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return InternalError("cannot create " + dir + ": " + ec.message());
  RS_RETURN_IF_ERROR(io::WriteSafetensors(dir + "/model.safetensors", b.tensors, {{"format", "pt"}}));

  json::Value cfg = json::Value::MakeObject();
  cfg.Set("architectures", json::Value::MakeArray({json::Value::String("Mamba2ForCausalLM")}));
  cfg.Set("model_type", json::Value::String("mamba2"));
  cfg.Set("hidden_size", json::Value::Int(D));
  cfg.Set("num_hidden_layers", json::Value::Int(o.n_layer));
  cfg.Set("vocab_size", json::Value::Int(o.vocab_size));
  cfg.Set("state_size", json::Value::Int(N));
  cfg.Set("head_dim", json::Value::Int(o.head_dim));
  cfg.Set("num_heads", json::Value::Int(H));
  cfg.Set("expand", json::Value::Int(o.expand));
  cfg.Set("n_groups", json::Value::Int(G));
  cfg.Set("conv_kernel", json::Value::Int(K));
  cfg.Set("chunk_size", json::Value::Int(o.chunk_size));
  if (o.dt_min > 0.0 || o.dt_max > 0.0) {
    // A finite stand-in for Python's Infinity when only the minimum is set.
    cfg.Set("time_step_limit", json::Value::MakeArray({json::Value::Number(o.dt_min),
                                                       json::Value::Number(o.dt_max > 0.0 ? o.dt_max : 1e308)}));
  }
  cfg.Set("layer_norm_epsilon", json::Value::Number(1e-5));
  cfg.Set("use_bias", json::Value::Bool(false));
  cfg.Set("use_conv_bias", json::Value::Bool(true));
  cfg.Set("rms_norm", json::Value::Bool(true));
  cfg.Set("residual_in_fp32", json::Value::Bool(true));
  cfg.Set("tie_word_embeddings", json::Value::Bool(o.tie_embeddings));
  cfg.Set("torch_dtype", json::Value::String(o.dtype == DType::kF32 ? "float32" : o.dtype == DType::kBF16 ? "bfloat16" : "float16"));
  cfg.Set("recurrent_serve_random_weights", json::Value::Bool(true));
  return WriteConfigJson(dir, cfg);
}

StatusOr<RandomMamba2Options> Mamba2Shape(const std::string& name) {
  RandomMamba2Options o;
  o.vocab_size = 50288;
  o.d_state = 128;
  o.head_dim = 64;
  if (name == "mamba2-130m") { o.d_model = 768; o.n_layer = 24; }
  else if (name == "mamba2-370m") { o.d_model = 1024; o.n_layer = 48; }
  else if (name == "mamba2-780m") { o.d_model = 1536; o.n_layer = 48; }
  else if (name == "mamba2-1.3b") { o.d_model = 2048; o.n_layer = 48; }
  else if (name == "mamba2-2.7b") { o.d_model = 2560; o.n_layer = 64; }
  else return NotFoundError("unknown shape \"" + name + "\" (mamba2-130m, mamba2-370m, mamba2-780m, mamba2-1.3b, mamba2-2.7b)");
  return o;
}

StatusOr<RandomMamba1Options> Mamba1Shape(const std::string& name) {
  RandomMamba1Options o;
  o.vocab_size = 50280;
  if (name == "mamba-130m") { o.d_model = 768; o.n_layer = 24; }
  else if (name == "mamba-370m") { o.d_model = 1024; o.n_layer = 48; }
  else if (name == "mamba-790m") { o.d_model = 1536; o.n_layer = 48; }
  else if (name == "mamba-1.4b") { o.d_model = 2048; o.n_layer = 48; }
  else if (name == "mamba-2.8b") { o.d_model = 2560; o.n_layer = 64; }
  else return NotFoundError("unknown shape \"" + name + "\" (mamba-130m, mamba-370m, mamba-790m, mamba-1.4b, mamba-2.8b)");
  return o;
}

StatusOr<std::string> EnsureDefaultModel() {
  std::string cache;
  if (const char* c = std::getenv("RS_CACHE_DIR"); c && *c) {
    cache = c;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    cache = std::string(x) + "/recurrent-serve";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    cache = std::string(h) + "/.cache/recurrent-serve";
  } else {
    cache = "/tmp/recurrent-serve-cache";
  }
  const std::string dir = cache + "/default-mamba1-bytes-v2";
  std::error_code ec;
  if (fs::exists(dir + "/config.json", ec) && fs::exists(dir + "/model.safetensors", ec)) return dir;
  // Write into a private folder, then rename, so concurrent first uses and
  // interrupted writes never leave a half-written model behind.
  const std::string tmp = dir + ".tmp" + std::to_string(::getpid());
  RandomMamba1Options o;  // byte vocabulary, small
  o.tie_embeddings = false;
  o.printable_bytes = true;
  o.seed = 20261128;
  RS_RETURN_IF_ERROR(WriteRandomMamba1(tmp, o));
  fs::rename(tmp, dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    if (fs::exists(dir + "/model.safetensors")) return dir;  // another process won
    return InternalError("cannot create the default model in " + dir);
  }
  return dir;
}

}  // namespace rs::engine
