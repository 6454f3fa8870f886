// WriteRandomRwkv / RwkvShape (see random_model.h).
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/io/tensor_store.h"
#include "engine/models/random_model.h"
#include "engine/models/random_weights.h"

namespace rs::engine {
namespace {

// RWKV-LM's LoRA rank rule: max(32, round(factor * C^power / 32) * 32).
int64_t LoraRank(int64_t C, double factor, double power) {
  const double r = std::round(factor * std::pow(static_cast<double>(C), power) / 32.0) * 32.0;
  return std::max<int64_t>(32, static_cast<int64_t>(r));
}

}  // namespace

Status WriteRandomRwkv(const std::string& dir, const RandomRwkvOptions& o) {
  if (o.dtype != DType::kF32 && o.dtype != DType::kF16 && o.dtype != DType::kBF16) {
    return InvalidArgumentError("random models are written in F32, F16 or BF16");
  }
  if (o.version != 6 && o.version != 7) return InvalidArgumentError("RWKV version must be 6 or 7");
  if (o.n_embd < 16 || o.n_layer < 1 || o.vocab_size < 1 || o.head_size < 16 ||
      o.n_embd % o.head_size != 0) {
    return InvalidArgumentError(
        "RWKV dimensions must be positive and n_embd a multiple of head_size");
  }
  const int64_t C = o.n_embd, H = C / o.head_size, N = o.head_size, V = o.vocab_size;
  const int64_t F = o.ffn > 0 ? o.ffn : o.version == 7 ? 4 * C : (C * 7 / 2) / 32 * 32;
  random_weights::Builder b;
  b.dtype = o.dtype;
  b.seed = o.seed;
  const auto sz = [](int64_t a, int64_t c = 1) { return static_cast<size_t>(a * c); };
  const float inv_c = 1.0f / std::sqrt(static_cast<float>(C));
  // Values in [center - spread, center + spread].
  const auto around = [&](size_t n, float center, float spread) {
    std::vector<float> v = b.UniformValues(n, spread);
    for (float& x : v) x += center;
    return v;
  };
  const std::vector<int64_t> row = {1, 1, C};

  b.Add("emb.weight", {V, C}, b.UniformValues(sz(V, C), 0.5f));
  for (int64_t i = 0; i < o.n_layer; ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    for (const char* ln : {"ln1", "ln2"}) {
      b.Add(p + ln + ".weight", {C}, around(sz(C), 1.0f, 0.2f));
      b.Add(p + ln + ".bias", {C}, b.UniformValues(sz(C), 0.1f));
    }
    if (i == 0) {
      b.Add(p + "ln0.weight", {C}, around(sz(C), 1.0f, 0.2f));
      b.Add(p + "ln0.bias", {C}, b.UniformValues(sz(C), 0.1f));
    }
    const std::string a = p + "att.";
    if (o.version == 7) {
      const int64_t Dw = o.lora_w > 0 ? o.lora_w : LoraRank(C, 1.8, 0.5);
      const int64_t Da = o.lora_a > 0 ? o.lora_a : LoraRank(C, 1.8, 0.5);
      const int64_t Dv = o.lora_v > 0 ? o.lora_v : LoraRank(C, 1.3, 0.5);
      const int64_t Dg = o.lora_g > 0 ? o.lora_g : LoraRank(C, 0.6, 0.8);
      for (const char* m : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"})
        b.Add(a + m, row, around(sz(C), 0.5f, 0.4f));
      b.Add(a + "w0", row, around(sz(C), -1.0f, 4.0f));
      b.Add(a + "w1", {C, Dw}, b.UniformValues(sz(C, Dw), 0.3f));
      b.Add(a + "w2", {Dw, C}, b.UniformValues(sz(Dw, C), 0.3f));
      b.Add(a + "a0", row, b.UniformValues(sz(C), 1.0f));
      b.Add(a + "a1", {C, Da}, b.UniformValues(sz(C, Da), 0.3f));
      b.Add(a + "a2", {Da, C}, b.UniformValues(sz(Da, C), 0.3f));
      if (i > 0) {
        b.Add(a + "v0", row, around(sz(C), 0.5f, 0.5f));
        b.Add(a + "v1", {C, Dv}, b.UniformValues(sz(C, Dv), 0.3f));
        b.Add(a + "v2", {Dv, C}, b.UniformValues(sz(Dv, C), 0.3f));
      }
      b.Add(a + "g1", {C, Dg}, b.UniformValues(sz(C, Dg), 0.3f));
      b.Add(a + "g2", {Dg, C},
            b.UniformValues(sz(Dg, C), 1.0f / std::sqrt(static_cast<float>(Dg))));
      b.Add(a + "k_k", row, around(sz(C), 0.85f, 0.1f));
      b.Add(a + "k_a", row, around(sz(C), 1.0f, 0.2f));
      b.Add(a + "r_k", {H, N}, b.UniformValues(sz(C), 0.5f));
    } else {
      const int64_t Dm = o.lora_maa > 0 ? o.lora_maa : 32;
      const int64_t Dd = o.lora_decay > 0 ? o.lora_decay : 64;
      for (const char* m :
           {"time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g"}) {
        b.Add(a + m, row, around(sz(C), 0.5f, 0.4f));
      }
      b.Add(a + "time_maa_w1", {C, 5 * Dm}, b.UniformValues(sz(C, 5 * Dm), 0.1f));
      b.Add(a + "time_maa_w2", {5, Dm, C}, b.UniformValues(sz(5 * Dm, C), 0.1f));
      b.Add(a + "time_decay", row, around(sz(C), -2.0f, 3.0f));
      b.Add(a + "time_decay_w1", {C, Dd}, b.UniformValues(sz(C, Dd), 0.1f));
      b.Add(a + "time_decay_w2", {Dd, C}, b.UniformValues(sz(Dd, C), 0.1f));
      b.Add(a + "time_faaaa", {H, N}, b.UniformValues(sz(C), 0.5f));
    }
    b.Add(a + "receptance.weight", {C, C}, b.UniformValues(sz(C, C), inv_c));
    b.Add(a + "key.weight", {C, C}, b.UniformValues(sz(C, C), inv_c));
    b.Add(a + "value.weight", {C, C}, b.UniformValues(sz(C, C), inv_c));
    b.Add(a + "output.weight", {C, C}, b.UniformValues(sz(C, C), inv_c));
    if (o.version == 6) b.Add(a + "gate.weight", {C, C}, b.UniformValues(sz(C, C), inv_c));
    b.Add(a + "ln_x.weight", {C}, around(sz(C), 1.0f, 0.2f));
    b.Add(a + "ln_x.bias", {C}, b.UniformValues(sz(C), 0.1f));
    const std::string f = p + "ffn.";
    if (o.version == 7) {
      b.Add(f + "x_k", row, around(sz(C), 0.5f, 0.4f));
    } else {
      b.Add(f + "time_maa_k", row, around(sz(C), 0.5f, 0.4f));
      b.Add(f + "time_maa_r", row, around(sz(C), 0.5f, 0.4f));
      b.Add(f + "receptance.weight", {C, C}, b.UniformValues(sz(C, C), inv_c));
    }
    b.Add(f + "key.weight", {F, C}, b.UniformValues(sz(F, C), inv_c));
    b.Add(f + "value.weight", {C, F},
          b.UniformValues(sz(C, F), 1.0f / std::sqrt(static_cast<float>(F))));
  }
  b.Add("ln_out.weight", {C}, around(sz(C), 1.0f, 0.2f));
  b.Add("ln_out.bias", {C}, b.UniformValues(sz(C), 0.1f));
  b.Add("head.weight", {V, C}, b.UniformValues(sz(V, C), 2.0f * inv_c));

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return InternalError("cannot create " + dir + ": " + ec.message());
  return io::WriteSafetensors(dir + "/model.safetensors", b.tensors, {{"format", "pt"}});
}

StatusOr<RandomRwkvOptions> RwkvShape(const std::string& name) {
  RandomRwkvOptions o;
  o.vocab_size = 65536;
  o.head_size = 64;
  if (name == "rwkv7-0.1b") {
    o.n_embd = 768;
    o.n_layer = 12;
  } else if (name == "rwkv7-0.4b") {
    o.n_embd = 1024;
    o.n_layer = 24;
  } else if (name == "rwkv7-1.5b") {
    o.n_embd = 2048;
    o.n_layer = 24;
  } else if (name == "rwkv6-0.1b") {
    o.version = 6;
    o.n_embd = 768;
    o.n_layer = 12;
  } else if (name == "rwkv6-1.6b") {
    o.version = 6;
    o.n_embd = 2048;
    o.n_layer = 24;
  } else
    return NotFoundError("unknown shape \"" + name +
                         "\" (rwkv7-0.1b, rwkv7-0.4b, rwkv7-1.5b, rwkv6-0.1b, rwkv6-1.6b)");
  return o;
}

}  // namespace rs::engine
