// recurrent init-random --out DIR [--arch mamba1|mamba2|rwkv7|rwkv6]
//                       [--shape mamba-130m|mamba2-130m|rwkv7-0.1b|...
//                        | --d-model N --n-layer L --vocab V]
//                       [--d-state N] [--head-size N] [--head-dim P] [--n-groups G]
//                       [--dtype f32|f16|bf16] [--seed S] [--untied]
// Writes a deterministic random-weight checkpoint for benchmarks and tests:
// Mamba-1 and Mamba-2 in the HF layout, RWKV with BlinkDL's names
// (model.safetensors).
// The architecture follows --arch, else the shape's name. Its text is noise.
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/models/random_model.h"

namespace rs::cli {
namespace {

StatusOr<DType> ParseDType(const std::string& name) {
  if (name == "f32") return DType::kF32;
  if (name == "f16") return DType::kF16;
  if (name == "bf16") return DType::kBF16;
  return InvalidArgumentError("--dtype must be f32, f16 or bf16");
}

int InitRandomRwkv(const Flags& flags, int version, DType dtype) {
  engine::RandomRwkvOptions o;
  o.version = version;
  if (flags.Has("shape")) {
    auto shape = engine::RwkvShape(flags.Get("shape"));
    if (!shape.ok()) return Fail("init-random", shape.status());
    o = *shape;
  }
  if (o.version != version)
    return Fail("init-random", InvalidArgumentError("--arch does not match --shape"));
  auto d = flags.GetInt("d-model", o.n_embd);
  auto l = flags.GetInt("n-layer", o.n_layer);
  auto v = flags.GetInt("vocab", o.vocab_size);
  auto hs = flags.GetInt("head-size", o.head_size);
  auto seed = flags.GetInt("seed", 1);
  for (const auto* st : {&d, &l, &v, &hs, &seed}) {
    if (!st->ok()) return Fail("init-random", st->status());
  }
  o.n_embd = *d;
  o.n_layer = *l;
  o.vocab_size = *v;
  o.head_size = *hs;
  o.seed = static_cast<uint64_t>(*seed);
  o.dtype = dtype;
  if (Status s = engine::WriteRandomRwkv(flags.Get("out"), o); !s.ok())
    return Fail("init-random", s);
  std::fprintf(stderr, "wrote %s (random weights: for benchmarks and tests only)\n",
               flags.Get("out").c_str());
  return 0;
}

int InitRandomMamba2(const Flags& flags, DType dtype) {
  engine::RandomMamba2Options o;
  if (flags.Has("shape")) {
    auto shape = engine::Mamba2Shape(flags.Get("shape"));
    if (!shape.ok()) return Fail("init-random", shape.status());
    o = *shape;
  }
  auto d = flags.GetInt("d-model", o.d_model);
  auto l = flags.GetInt("n-layer", o.n_layer);
  auto v = flags.GetInt("vocab", o.vocab_size);
  auto n = flags.GetInt("d-state", o.d_state);
  auto p = flags.GetInt("head-dim", o.head_dim);
  auto g = flags.GetInt("n-groups", o.n_groups);
  auto seed = flags.GetInt("seed", 1);
  for (const auto* st : {&d, &l, &v, &n, &p, &g, &seed}) {
    if (!st->ok()) return Fail("init-random", st->status());
  }
  o.d_model = *d;
  o.n_layer = *l;
  o.vocab_size = *v;
  o.d_state = *n;
  o.head_dim = *p;
  o.n_groups = *g;
  o.seed = static_cast<uint64_t>(*seed);
  o.tie_embeddings = !flags.Has("untied");
  o.dtype = dtype;
  if (Status s = engine::WriteRandomMamba2(flags.Get("out"), o); !s.ok())
    return Fail("init-random", s);
  std::fprintf(stderr, "wrote %s (random weights: for benchmarks and tests only)\n",
               flags.Get("out").c_str());
  return 0;
}

}  // namespace

int RunInitRandom(int argc, char** argv) {
  Flags flags({"out", "arch", "shape", "d-model", "n-layer", "vocab", "d-state", "head-size",
               "head-dim", "n-groups", "dtype", "seed"},
              {"untied"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("init-random", s);
  if (!flags.Has("out")) return Fail("init-random", InvalidArgumentError("--out DIR is required"));
  auto dtype = ParseDType(flags.Get("dtype", "f32"));
  if (!dtype.ok()) return Fail("init-random", dtype.status());
  const std::string shape = flags.Get("shape", "");
  const std::string arch = flags.Get("arch", shape.rfind("rwkv6", 0) == 0    ? "rwkv6"
                                             : shape.rfind("rwkv", 0) == 0   ? "rwkv7"
                                             : shape.rfind("mamba2", 0) == 0 ? "mamba2"
                                                                             : "mamba1");
  if (arch == "rwkv6" || arch == "rwkv7")
    return InitRandomRwkv(flags, arch == "rwkv6" ? 6 : 7, *dtype);
  if (arch == "mamba2") return InitRandomMamba2(flags, *dtype);
  if (arch != "mamba1")
    return Fail("init-random",
                InvalidArgumentError("--arch must be mamba1, mamba2, rwkv7 or rwkv6"));
  engine::RandomMamba1Options o;
  if (flags.Has("shape")) {
    auto shape = engine::Mamba1Shape(flags.Get("shape"));
    if (!shape.ok()) return Fail("init-random", shape.status());
    o = *shape;
  }
  auto d = flags.GetInt("d-model", o.d_model);
  auto l = flags.GetInt("n-layer", o.n_layer);
  auto v = flags.GetInt("vocab", o.vocab_size);
  auto n = flags.GetInt("d-state", o.d_state);
  auto seed = flags.GetInt("seed", 1);
  for (const auto* st : {&d, &l, &v, &n, &seed}) {
    if (!st->ok()) return Fail("init-random", st->status());
  }
  o.d_model = *d;
  o.n_layer = *l;
  o.vocab_size = *v;
  o.d_state = *n;
  o.seed = static_cast<uint64_t>(*seed);
  o.tie_embeddings = !flags.Has("untied");
  o.dtype = *dtype;
  if (Status s = engine::WriteRandomMamba1(flags.Get("out"), o); !s.ok())
    return Fail("init-random", s);
  std::fprintf(stderr, "wrote %s (random weights: for benchmarks and tests only)\n",
               flags.Get("out").c_str());
  return 0;
}

}  // namespace rs::cli
