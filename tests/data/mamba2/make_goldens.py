#!/usr/bin/env python3
"""Writes the Mamba-2 parity goldens under tests/data/mamba2/.

Each case is a small random-weight Mamba-2 checkpoint in one published layout
(Hugging Face `Mamba2ForCausalLM`: config.json with model_type "mamba2" +
model.safetensors; or the original state-spaces/mamba_ssm layout: config.json
with ssm_cfg.layer = "Mamba2" + pytorch_model.bin) and one weight dtype, plus
golden.json: the reference logits at every position of a fixed token sequence.

Reference: Hugging Face transformers 4.48.3 `Mamba2ForCausalLM`, its pure-torch
`Mamba2Mixer.torch_forward` single-token path (the recurrence
S = exp(dt*A) S + dt x B^T, y = S C + D x), fed one token at a time from a
zeroed `Mamba2Cache`, every weight upcast to float64 and HF's internal float32
casts turned into no-ops (`pure_float64()`), on torch 1.13 CPU.

Why the single-token path: in 4.48.3 the chunked (prefill) path maps heads to
B/C groups with `repeat` (head h -> group h % n_groups) where the original and
HF's own single-token path use h // (heads / n_groups); for n_groups = 1 the
two paths agree (recorded under checks.hf_chunked_forward_vs_golden).

Grouped gated RMSNorm: HF 4.48.3's MambaRMSNormGated normalizes y*silu(z) over
the whole d_inner; the original (mamba_ssm RMSNormGated with group_size =
d_inner / ngroups, norm_before_gate=False, its rms_norm_ref) normalizes each
group of d_inner / n_groups channels on its own. Trained Mamba-2 checkpoints
were trained with the original, and recurrent-serve follows it, so the goldens
replace HF's norm by the original's group semantics (`original_gated_norm`);
for n_groups = 1 both are the same function. checks.hf_stock_norm_vs_golden
records how far HF's full-width norm is.

Versions: Python 3.11.2, torch 1.13.0a0 (Debian python3-torch), transformers
4.48.3, safetensors 0.8.0 (a venv made with
`/usr/bin/python3 -m venv --system-site-packages /work/.venv-ref-m2` and
`pip install transformers==4.48.3 einops`).

Usage:
  /work/.venv-ref-m2/bin/python tests/data/mamba2/make_goldens.py [--out DIR]
"""

import argparse
import contextlib
import copy
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from transformers import Mamba2Config, Mamba2ForCausalLM
from transformers.models.mamba2 import modeling_mamba2

HERE = os.path.dirname(os.path.abspath(__file__))

# tiny: n_groups 1, tied lm_head, no linear biases, d_state and head dim not
# multiples of 16, SSD chunk 8 (so the 40-token prompt spans 5 chunks).
# grouped: 3 groups of 2 heads, untied lm_head, in/out_proj biases, d_conv 3,
# time_step_limit (0.002, 0.06) that clamps some steps on both sides, chunk 5.
SHAPES = {
    "tiny": dict(d_model=40, n_layer=2, d_state=24, head_dim=16, expand=2, n_groups=1,
                 d_conv=4, vocab=72, chunk=8, tied=True, bias=False,
                 dt_limit=(0.0, float("inf")), seed=1),
    "grouped": dict(d_model=36, n_layer=3, d_state=10, head_dim=12, expand=2, n_groups=3,
                    d_conv=3, vocab=60, chunk=5, tied=False, bias=True,
                    dt_limit=(0.002, 0.06), seed=2),
}
CASES = [
    ("tiny_hf_f32", "tiny", "hf", "F32"),
    ("tiny_ssm_f32", "tiny", "state_spaces", "F32"),
    ("tiny_hf_bf16", "tiny", "hf", "BF16"),
    ("grouped_hf_f32", "grouped", "hf", "F32"),
    ("grouped_ssm_f32", "grouped", "state_spaces", "F32"),
    ("grouped_ssm_bf16", "grouped", "state_spaces", "BF16"),
]
N_TOKENS = 40
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16}


def dims(s):
    d_inner = s["expand"] * s["d_model"]
    heads = d_inner // s["head_dim"]
    conv_dim = d_inner + 2 * s["n_groups"] * s["d_state"]
    return d_inner, heads, conv_dim


def tokens_for(s):
    g = torch.Generator().manual_seed(1000 + s["seed"])
    return torch.randint(0, s["vocab"], (N_TOKENS,), generator=g).tolist()


def build_master(s):
    """Float64 weights with HF names (scales like Mamba-2's own init)."""
    g = torch.Generator().manual_seed(s["seed"])
    D, K, H = s["d_model"], s["d_conv"], dims(s)[1]
    d_inner, _, conv_dim = dims(s)
    d_in_proj = 2 * d_inner + 2 * s["n_groups"] * s["d_state"] + H

    def u(*shape, bound):
        return (torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * bound

    w = {"backbone.embeddings.weight": u(s["vocab"], D, bound=1.0)}
    for i in range(s["n_layer"]):
        p = "backbone.layers.%d." % i
        w[p + "norm.weight"] = 1 + u(D, bound=0.2)
        w[p + "mixer.in_proj.weight"] = u(d_in_proj, D, bound=1 / math.sqrt(D))
        w[p + "mixer.conv1d.weight"] = u(conv_dim, 1, K, bound=1 / math.sqrt(K))
        w[p + "mixer.conv1d.bias"] = u(conv_dim, bound=1 / math.sqrt(K))
        # dt = exp(U(log 1e-3, log 1e-1)), bias = inverse softplus(dt).
        dt = torch.exp(math.log(1e-3) + torch.rand(H, generator=g, dtype=torch.float64)
                       * (math.log(1e-1) - math.log(1e-3)))
        w[p + "mixer.dt_bias"] = dt + torch.log(-torch.expm1(-dt))
        w[p + "mixer.A_log"] = torch.log(1 + 15 * torch.rand(H, generator=g, dtype=torch.float64))
        w[p + "mixer.D"] = 1 + u(H, bound=0.5)
        w[p + "mixer.norm.weight"] = 1 + u(d_inner, bound=0.2)
        w[p + "mixer.out_proj.weight"] = u(D, d_inner, bound=1 / math.sqrt(d_inner))
        if s["bias"]:
            w[p + "mixer.in_proj.bias"] = u(d_in_proj, bound=0.1)
            w[p + "mixer.out_proj.bias"] = u(D, bound=0.1)
    w["backbone.norm_f.weight"] = 1 + u(D, bound=0.2)
    if not s["tied"]:
        w["lm_head.weight"] = u(s["vocab"], D, bound=1 / math.sqrt(D))
    return w


def hf_config(s):
    d_inner, H, _ = dims(s)
    lim = s["dt_limit"]
    return Mamba2Config(
        vocab_size=s["vocab"], hidden_size=s["d_model"], num_hidden_layers=s["n_layer"],
        state_size=s["d_state"], head_dim=s["head_dim"], num_heads=H, expand=s["expand"],
        n_groups=s["n_groups"], conv_kernel=s["d_conv"], chunk_size=s["chunk"],
        use_bias=s["bias"], use_conv_bias=True, layer_norm_epsilon=1e-5,
        time_step_limit=list(lim), rms_norm=True, tie_word_embeddings=s["tied"],
        residual_in_fp32=True)


def cast(w, dtype):
    return {k: v.to(DTYPES[dtype]).contiguous() for k, v in w.items()}


def write_hf(s, master, dtype, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    save_file(cast(master, dtype), os.path.join(out_dir, "model.safetensors"),
              metadata={"format": "pt"})
    cfg = hf_config(s).to_dict()
    cfg["torch_dtype"] = "float32" if dtype == "F32" else "bfloat16"
    cfg["architectures"] = ["Mamba2ForCausalLM"]
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def write_ssm(s, master, dtype, out_dir):
    """mamba_ssm's MambaLMHeadModel names: backbone.embedding, lm_head always saved."""
    os.makedirs(out_dir, exist_ok=True)
    sd = {}
    for k, v in master.items():
        sd[k.replace("backbone.embeddings.", "backbone.embedding.")] = v
    if s["tied"]:
        sd["lm_head.weight"] = master["backbone.embeddings.weight"]
    sd = cast(sd, dtype)
    torch.save(sd, os.path.join(out_dir, "pytorch_model.bin"))
    ssm_cfg = {"layer": "Mamba2", "d_state": s["d_state"], "d_conv": s["d_conv"],
               "expand": s["expand"], "headdim": s["head_dim"], "ngroups": s["n_groups"],
               "chunk_size": s["chunk"], "bias": s["bias"], "conv_bias": True}
    if s["dt_limit"] != (0.0, float("inf")):
        ssm_cfg["dt_limit"] = list(s["dt_limit"])
    cfg = {"d_model": s["d_model"], "d_intermediate": 0, "n_layer": s["n_layer"],
           "vocab_size": s["vocab"], "ssm_cfg": ssm_cfg, "attn_layer_idx": [], "attn_cfg": {},
           "rms_norm": True, "residual_in_fp32": True, "fused_add_norm": True,
           "pad_vocab_size_multiple": 1, "tie_embeddings": s["tied"]}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def load_reference(model_dir, shape):
    """The float64 HF model on exactly the bytes written (read back)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    model = Mamba2ForCausalLM(hf_config(shape))
    if "ssm_cfg" in cfg:
        sd = torch.load(os.path.join(model_dir, "pytorch_model.bin"), map_location="cpu")
        sd = {k.replace("backbone.embedding.", "backbone.embeddings."): v for k, v in sd.items()}
        if shape["tied"]:
            assert torch.equal(sd["lm_head.weight"], sd["backbone.embeddings.weight"])
        layout = "state_spaces"
    else:
        from safetensors.torch import load_file
        sd = load_file(os.path.join(model_dir, "model.safetensors"))
        layout = "hf"
    if shape["tied"] and "lm_head.weight" not in sd:
        sd["lm_head.weight"] = sd["backbone.embeddings.weight"]
    model.load_state_dict({k: v.double() for k, v in sd.items()}, strict=True)
    return model.double().eval(), layout


@contextlib.contextmanager
def pure_float64():
    """Turns HF's float64 -> float32 casts (A_log.float(), norms) into no-ops."""
    orig_float, orig_to = torch.Tensor.float, torch.Tensor.to

    def new_float(self, *a, **k):
        return self if self.dtype == torch.float64 else orig_float(self, *a, **k)

    def new_to(self, *a, **k):
        target = k.get("dtype", a[0] if a and isinstance(a[0], torch.dtype) else None)
        if self.dtype == torch.float64 and target == torch.float32:
            return self
        return orig_to(self, *a, **k)

    torch.Tensor.float, torch.Tensor.to = new_float, new_to
    try:
        yield
    finally:
        torch.Tensor.float, torch.Tensor.to = orig_float, orig_to


@contextlib.contextmanager
def original_gated_norm(n_groups):
    """HF's MambaRMSNormGated with mamba_ssm's semantics (rms_norm_ref with
    group_size = d_inner / ngroups, norm_before_gate=False): x * silu(z), then
    each group of channels normalized on its own, then the weight."""
    orig = modeling_mamba2.MambaRMSNormGated.forward

    def forward(self, hidden_states, gate=None):
        x = hidden_states
        if gate is not None:
            x = x * F.silu(gate)
        xg = x.reshape(*x.shape[:-1], n_groups, x.shape[-1] // n_groups)
        rstd = 1 / torch.sqrt(xg.square().mean(dim=-1, keepdim=True) + self.variance_epsilon)
        return (xg * rstd).reshape(x.shape) * self.weight

    modeling_mamba2.MambaRMSNormGated.forward = forward
    try:
        yield
    finally:
        modeling_mamba2.MambaRMSNormGated.forward = orig


def hf_step_run(model, tokens):
    """HF's single-token path for every token, from a zeroed cache."""
    cache = modeling_mamba2.Mamba2Cache(model.config, 1, dtype=torch.float64)
    rows = []
    with torch.no_grad():
        for i, t in enumerate(tokens):
            # cache_position > 0 selects the single-token path (the cache is
            # zero, i.e. the state before any token, at i = 0 too).
            out = model(input_ids=torch.tensor([[t]]), cache_params=cache, use_cache=True,
                        cache_position=torch.tensor([i + model.config.conv_kernel]))
            cache = out.cache_params
            rows.append(out.logits[0, -1].double())
    return torch.stack(rows), cache


def hf_chunked_run(model, tokens):
    with torch.no_grad():
        hidden = model.backbone(input_ids=torch.tensor([tokens]), use_cache=False).last_hidden_state
        return model.lm_head(hidden)[0]


def maxdiff(a, b):
    return (a - b).abs().max().item()


def golden_for(case, shape_name, layout, dtype, out_dir):
    s = SHAPES[shape_name]
    tokens = tokens_for(s)
    model, loaded_layout = load_reference(out_dir, s)
    assert loaded_layout == layout
    G = s["n_groups"]
    with pure_float64(), original_gated_norm(G):
        logits, cache = hf_step_run(model, tokens)
    checks = {}
    with pure_float64(), original_gated_norm(G):
        checks["hf_chunked_forward_vs_golden"] = maxdiff(hf_chunked_run(model, tokens), logits)
    with pure_float64():
        checks["hf_stock_norm_vs_golden"] = maxdiff(hf_step_run(model, tokens)[0], logits)
    with original_gated_norm(G):  # stock float32 casts kept
        checks["hf_with_float32_casts_vs_golden"] = maxdiff(hf_step_run(model, tokens)[0], logits)
    m32 = copy.deepcopy(model).float()
    with original_gated_norm(G):
        checks["float32_model_vs_golden"] = maxdiff(hf_step_run(m32, tokens)[0].double(), logits)
    # The golden depends on the SSM output and on the first token.
    saved = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        for layer in model.backbone.layers:
            layer.mixer.D.zero_()
            layer.mixer.A_log.fill_(30.0)  # decay exp(-dt e^30) = 0: no memory
    with pure_float64(), original_gated_norm(G):
        checks["sensitivity_no_ssm_memory"] = maxdiff(hf_step_run(model, tokens)[0], logits)
    model.load_state_dict(saved)
    first = [1 if tokens[0] != 1 else 2] + tokens[1:]
    with pure_float64(), original_gated_norm(G):
        checks["sensitivity_first_token_changed_last_position"] = maxdiff(
            hf_step_run(model, first)[0][-1], logits[-1])

    spread = (logits - logits.mean(0)).abs().max(1).values.min().item()
    assert spread > 0.1, spread
    assert logits.std().item() > 0.3
    d_inner, H, conv_dim = dims(s)
    golden = {
        "case": case,
        "reference": ("transformers %s Mamba2ForCausalLM torch_forward single-token path, "
                      "float64, gated norm per group (mamba_ssm semantics)" % __import__("transformers").__version__),
        "layout": layout,
        "weight_dtype": dtype,
        "model": {"d_model": s["d_model"], "n_layer": s["n_layer"], "d_state": s["d_state"],
                  "head_dim": s["head_dim"], "n_heads": H, "n_groups": G, "d_inner": d_inner,
                  "d_conv": s["d_conv"], "chunk_size": s["chunk"], "tied_lm_head": s["tied"],
                  "bias": s["bias"], "time_step_limit": [s["dt_limit"][0], str(s["dt_limit"][1])]},
        "tokens": tokens,
        "vocab_size": logits.shape[1],
        "max_abs_logit": logits.abs().max().item(),
        "checks": checks,
        "logits": [[float("%.10g" % x) for x in row] for row in logits.tolist()],
    }
    if layout == "hf" and dtype == "F32":
        # ssm[l]: (heads, head_dim, d_state) after all tokens, batch 0.
        # conv[l]: (conv_dim, d_conv): the d_conv most recent conv inputs, oldest first.
        golden["final_state"] = {
            "ssm": [[[[float("%.10g" % x) for x in r] for r in h] for h in cache.ssm_states[l, 0].tolist()]
                    for l in range(s["n_layer"])],
            "conv": [[[float("%.10g" % x) for x in r] for r in cache.conv_states[l, 0].tolist()]
                     for l in range(s["n_layer"])],
        }
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    return logits, golden


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=HERE)
    a = p.parse_args()
    torch.set_num_threads(1)
    results = {}
    for case, shape_name, layout, dtype in CASES:
        out_dir = os.path.join(a.out, case)
        if os.path.isdir(out_dir):
            for f in os.listdir(out_dir):
                os.remove(os.path.join(out_dir, f))
        s = SHAPES[shape_name]
        master = build_master(s)
        (write_hf if layout == "hf" else write_ssm)(s, master, dtype, out_dir)
        logits, golden = golden_for(case, shape_name, layout, dtype, out_dir)
        for f in os.listdir(out_dir):
            os.chmod(os.path.join(out_dir, f), 0o644)
        results[case] = logits
        size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
        print("%-18s %-12s %-4s bytes=%7d max|logit|=%.4f" % (
            case, layout, dtype, size, golden["max_abs_logit"]))
        for k, v in golden["checks"].items():
            print("    %-50s %.3g" % (k, v))
    for a_, b_ in [("tiny_hf_f32", "tiny_ssm_f32"), ("grouped_hf_f32", "grouped_ssm_f32")]:
        d = maxdiff(results[a_], results[b_])
        print("layout check %s vs %s: %g" % (a_, b_, d))
        assert d <= 1e-12


if __name__ == "__main__":
    main()
