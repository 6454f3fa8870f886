#!/usr/bin/env python3
"""HF transformers' generate() on a Mamba checkpoint folder (HF layout, as
`recurrent init-random` writes it), on the GPU: the reference throughput the
CUDA backend is compared with (issue: CUDA backend).

Usage: hf_generate_bench.py MODEL_DIR [--batch 1,64] [--prompt-len 16] [--gen 128] [--dtype bf16]
Prints one JSON line per batch size: {"batch", "tok_s", "seconds", "device", "dtype"}.
Greedy decoding with a fixed number of new tokens (no EOS stop), cache on, the
model's own fast path where installed (mamba-ssm kernels) else the torch one.
"""
import argparse
import json
import time

import torch
from transformers import MambaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--batch", default="1,64")
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f32", "f16"])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    dtype = {"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16}[args.dtype]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    model = MambaForCausalLM.from_pretrained(args.model, torch_dtype=dtype).to(dev).eval()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(0)
    for b in [int(x) for x in args.batch.split(",")]:
        ids = torch.randint(0, vocab, (b, args.prompt_len), generator=g).to(dev)
        times = []
        with torch.no_grad():
            model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)  # warm-up
            for _ in range(args.runs):
                if dev == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                out = model.generate(ids, max_new_tokens=args.gen, min_new_tokens=args.gen,
                                     do_sample=False, eos_token_id=None, pad_token_id=0)
                if dev == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
                assert out.shape[1] == args.prompt_len + args.gen, out.shape
        times.sort()
        t = times[len(times) // 2]
        print(json.dumps({"batch": b, "tok_s": b * args.gen / t, "seconds": t, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
                          "dtype": args.dtype, "prompt_len": args.prompt_len, "gen": args.gen}), flush=True)


if __name__ == "__main__":
    main()
