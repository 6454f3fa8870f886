// recurrent init-random --out DIR [--shape mamba-130m | --d-model N --n-layer L --vocab V]
//                       [--dtype f32|f16|bf16] [--seed S] [--untied]
// Writes a deterministic random-weight Mamba-1 checkpoint (HF layout) for
// benchmarks and tests. Its text is noise.
#include <cstdio>

#include "cli/commands.h"
#include "cli/common.h"
#include "engine/models/random_model.h"

namespace rs::cli {

int RunInitRandom(int argc, char** argv) {
  Flags flags({"out", "shape", "d-model", "n-layer", "vocab", "d-state", "dtype", "seed"}, {"untied"});
  if (Status s = flags.Parse(argc, argv, 2); !s.ok()) return Fail("init-random", s);
  if (!flags.Has("out")) return Fail("init-random", InvalidArgumentError("--out DIR is required"));
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
  const std::string dtype = flags.Get("dtype", "f32");
  if (dtype == "f32") o.dtype = DType::kF32;
  else if (dtype == "f16") o.dtype = DType::kF16;
  else if (dtype == "bf16") o.dtype = DType::kBF16;
  else return Fail("init-random", InvalidArgumentError("--dtype must be f32, f16 or bf16"));
  if (Status s = engine::WriteRandomMamba1(flags.Get("out"), o); !s.ok()) return Fail("init-random", s);
  std::fprintf(stderr, "wrote %s (random weights: for benchmarks and tests only)\n", flags.Get("out").c_str());
  return 0;
}

}  // namespace rs::cli
