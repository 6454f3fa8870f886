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
#include <initializer_list>
#include <utility>

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

// Overrides each option with its integer flag when given (the option's value
// is the default); the first malformed flag is the error.
Status ReadIntFlags(const Flags& flags, std::initializer_list<std::pair<const char*, int64_t*>> fields) {
  for (const auto& f : fields) {
    RS_ASSIGN_OR_RETURN(*f.second, flags.GetInt(f.first, *f.second));
  }
  return OkStatus();
}

// The exit code of a write: a one-line error, or a notice of what was written.
int Written(const Flags& flags, const Status& written) {
  if (!written.ok()) return Fail("init-random", written);
  std::fprintf(stderr, "wrote %s (random weights: for benchmarks and tests only)\n", flags.Get("out").c_str());
  return 0;
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
  int64_t seed = 1;
  if (Status st = ReadIntFlags(flags, {{"d-model", &o.n_embd},
                                       {"n-layer", &o.n_layer},
                                       {"vocab", &o.vocab_size},
                                       {"head-size", &o.head_size},
                                       {"seed", &seed}});
      !st.ok()) {
    return Fail("init-random", st);
  }
  o.seed = static_cast<uint64_t>(seed);
  o.dtype = dtype;
  return Written(flags, engine::WriteRandomRwkv(flags.Get("out"), o));
}

int InitRandomMamba2(const Flags& flags, DType dtype) {
  engine::RandomMamba2Options o;
  if (flags.Has("shape")) {
    auto shape = engine::Mamba2Shape(flags.Get("shape"));
    if (!shape.ok()) return Fail("init-random", shape.status());
    o = *shape;
  }
  int64_t seed = 1;
  if (Status st = ReadIntFlags(flags, {{"d-model", &o.d_model},
                                       {"n-layer", &o.n_layer},
                                       {"vocab", &o.vocab_size},
                                       {"d-state", &o.d_state},
                                       {"head-dim", &o.head_dim},
                                       {"n-groups", &o.n_groups},
                                       {"seed", &seed}});
      !st.ok()) {
    return Fail("init-random", st);
  }
  o.seed = static_cast<uint64_t>(seed);
  o.tie_embeddings = !flags.Has("untied");
  o.dtype = dtype;
  return Written(flags, engine::WriteRandomMamba2(flags.Get("out"), o));
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
  int64_t seed = 1;
  if (Status st = ReadIntFlags(flags, {{"d-model", &o.d_model},
                                       {"n-layer", &o.n_layer},
                                       {"vocab", &o.vocab_size},
                                       {"d-state", &o.d_state},
                                       {"seed", &seed}});
      !st.ok()) {
    return Fail("init-random", st);
  }
  o.seed = static_cast<uint64_t>(seed);
  o.tie_embeddings = !flags.Has("untied");
  o.dtype = *dtype;
  return Written(flags, engine::WriteRandomMamba1(flags.Get("out"), o));
}

}  // namespace rs::cli
