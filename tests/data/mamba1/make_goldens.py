#!/usr/bin/env python3
"""Writes the Mamba-1 parity goldens under tests/data/mamba1/.

Each case is a small random-weight Mamba-1 checkpoint in one published layout
(Hugging Face single file, Hugging Face sharded, or the original
state-spaces/mamba_ssm `pytorch_model.bin`) and one weight dtype (F32, BF16,
F16), plus `golden.json`: the logits of the reference implementation at every
position of a fixed token sequence, and its recurrent state after the sequence.

Reference: Hugging Face `transformers` 4.41.2 `MambaForCausalLM`, its pure-torch
`MambaMixer.slow_forward` path (mamba_ssm / causal_conv1d are not installed),
run with every weight upcast to float64 (`model.double()`) on torch 1.13.0
(Debian python3-torch) CPU, logits = `model.lm_head(model.backbone(ids))`
(the stock forward casts logits to float32). The stock slow path also casts
some float64 values to float32 on the way (MambaRMSNorm input, the fp32
residual, `A_log.float()`, `B.float()`, `hidden_states.float()`), which puts
~1e-6 of noise into the logits; the goldens are written with those casts
turned into no-ops (`pure_float64()`), so every operation is float64.
`--stock` writes the unmodified slow path's numbers instead.

The checkpoint is always read back from the files written here, so the golden
is the reference run on exactly those bytes (BF16/F16 weights are the rounded
values, upcast exactly to float64). Cross-checks recorded in each golden.json
under "checks": `mambapy` 1.2.0 (`mambapy.lm.LM`, parallel scan, and its
recurrent `step`, same pure/stock mode) to ~5e-15; HF's own decode path
(prefill 5 tokens, then one at a time); stock HF and stock mambapy; the
float32 reference runs (what an fp32 engine can expect, ~4e-6); transformers
4.44.2 from a second virtualenv (--alt-python); and how much the logits
depend on the scan output and on the first token (so a broken scan or state
cannot pass).

Versions used to produce the committed files: Python 3.11.2, torch
1.13.0a0+gitunknown (Debian bookworm python3-torch), transformers 4.41.2,
safetensors 0.8.0, mambapy 1.2.0, einops 0.8.2, numpy 1.24.2; cross-check
venv: the same plus transformers 4.44.2. In 4.44.2 MambaCache lives in
cache_utils and calls torch._dynamo.mark_static_address, absent in torch 1.13,
so use_cache=True raises there; 4.41.2's MambaCache works on torch 1.13.

Usage (see README.md):
  /work/.venv-ref/bin/python tests/data/mamba1/make_goldens.py [--out DIR]
  /work/.venv-ref/bin/python tests/data/mamba1/make_goldens.py hidden [--out DIR]
      (only the hidden_golden.json files, from the checkpoints already there)
  /work/.venv-ref/bin/python tests/data/mamba1/make_goldens.py reference \
      MODEL_DIR --tokens 1,2,3 [--state] [--stock]
  (generate_reference.py in this folder is the same "reference" command.)
"""

import argparse
import contextlib
import copy
import json
import math
import os
import subprocess
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------
# Reference imports.
# --------------------------------------------------------------------------
import transformers  # noqa: E402
from transformers import MambaConfig, MambaForCausalLM  # noqa: E402
from transformers.models.mamba import modeling_mamba  # noqa: E402

transformers.logging.set_verbosity_error()
assert not modeling_mamba.is_fast_path_available, "CUDA fast path must be off"


def _import_mambapy_lm():
    """Imports mambapy.lm.LM.

    mambapy/lm.py imports mambapy/mamba2.py, which imports mamba_ssm's Triton
    kernels at module level even though the Mamba-1 path never uses them.
    Stand-in modules satisfy that import; they are removed again right after.
    """
    names = ["mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton",
             "mamba_ssm.ops.triton.ssd_combined"]
    added = []
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            added.append(name)
    ssd = sys.modules["mamba_ssm.ops.triton.ssd_combined"]
    ssd.mamba_chunk_scan_combined = None
    ssd.mamba_split_conv1d_scan_combined = None
    try:
        from mambapy.lm import LM
        from mambapy.mamba import MambaConfig as MambapyConfig
    finally:
        for name in added:
            del sys.modules[name]
    return LM, MambapyConfig


try:
    MambapyLM, MambapyConfig = _import_mambapy_lm()
except ImportError:  # only the golden writer needs mambapy
    MambapyLM = MambapyConfig = None


def versions():
    import importlib.metadata as md
    out = {"python": sys.version.split()[0], "torch": torch.__version__}
    for pkg in ["transformers", "safetensors", "mambapy", "numpy"]:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def reference_name(stock):
    s = ("transformers %s MambaForCausalLM slow_forward, float64 (model.double(); lm_head "
         "applied to the float64 backbone output), torch %s CPU"
         % (transformers.__version__, torch.__version__))
    if not stock:
        s += ("; its internal float64->float32 casts (RMSNorm, fp32 residual, A_log/B/x "
              ".float()) disabled, so every operation is float64")
    return s

# --------------------------------------------------------------------------
# Cases.
# --------------------------------------------------------------------------
# Model shapes. "vocab_size" is the real vocabulary; the state-spaces layout
# pads the embedding / lm_head rows up to a multiple of pad_vocab_size_multiple.
SHAPES = {
    "tiny": dict(d_model=64, n_layer=2, d_state=16, d_conv=4, expand=2, dt_rank="auto",
                 vocab_size=300, use_bias=False, conv_bias=True, tied=True, seed=1234),
    "alt": dict(d_model=48, n_layer=3, d_state=8, d_conv=3, expand=3, dt_rank=5,
                vocab_size=260, use_bias=True, conv_bias=False, tied=False, seed=5678),
}
PAD_VOCAB_MULTIPLE = 8
EPS = 1e-5

# (case directory, shape, layout, dtype)
CASES = [
    ("tiny_hf_f32", "tiny", "hf", "F32"),
    ("tiny_hf_sharded_f32", "tiny", "hf_sharded", "F32"),
    ("tiny_ssm_f32", "tiny", "state_spaces", "F32"),
    ("tiny_hf_bf16", "tiny", "hf", "BF16"),
    ("tiny_hf_f16", "tiny", "hf", "F16"),
    ("tiny_ssm_bf16", "tiny", "state_spaces", "BF16"),
    ("alt_hf_untied_f32", "alt", "hf", "F32"),
    ("alt_ssm_untied_f32", "alt", "state_spaces", "F32"),
]
TORCH_DTYPE = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
SEQ_LEN = 24


def padded_vocab(v, multiple=PAD_VOCAB_MULTIPLE):
    return v if v % multiple == 0 else v + multiple - v % multiple


def dt_rank_of(shape):
    r = shape["dt_rank"]
    return math.ceil(shape["d_model"] / 16) if r == "auto" else r


def tokens_for(shape):
    """24 fixed token ids: the highest valid id first, 0 inside, a repeat."""
    v = shape["vocab_size"]
    g = torch.Generator().manual_seed(shape["seed"] + 1)
    ids = torch.randint(1, v - 1, (SEQ_LEN,), generator=g).tolist()
    ids[0] = v - 1
    ids[5] = 0
    ids[11] = ids[4]
    ids[17] = v - 1
    return ids


def hf_config(shape, vocab_size):
    return MambaConfig(
        vocab_size=vocab_size, hidden_size=shape["d_model"], state_size=shape["d_state"],
        num_hidden_layers=shape["n_layer"], layer_norm_epsilon=EPS, expand=shape["expand"],
        conv_kernel=shape["d_conv"], use_bias=shape["use_bias"],
        use_conv_bias=shape["conv_bias"], time_step_rank=shape["dt_rank"],
        residual_in_fp32=True, tie_word_embeddings=shape["tied"])


def build_master(shape_name):
    """F32 HF model with the model's own init, then every parameter perturbed.

    Returns (model, pad_rows): pad_rows holds the extra embedding (and, untied,
    lm_head) rows that only the padded state-spaces layout carries.
    """
    shape = SHAPES[shape_name]
    torch.manual_seed(shape["seed"])
    model = MambaForCausalLM(hf_config(shape, shape["vocab_size"])).float().eval()
    g = torch.Generator().manual_seed(shape["seed"] + 2)

    def randn(*size):
        return torch.randn(*size, generator=g)

    def inv_softplus(y):
        return y + torch.log(-torch.expm1(-y))

    # Chosen so the selective scan matters (not just D*x and the conv): dt in
    # [0.01, 0.5], A from ~0.01 (long memory) to ~50, B/C rows of x_proj x4.
    # With these, zeroing the C rows moves logits by ~2 (tiny) / ~0.7 (alt), and
    # changing the first token moves the last position's logits by ~0.1.
    c = model.config
    r, n = c.time_step_rank, c.state_size
    with torch.no_grad():
        for layer in model.backbone.layers:
            mixer = layer.mixer
            layer.norm.weight.copy_(1.0 + 0.3 * randn(layer.norm.weight.shape))
            a_log = torch.log(torch.arange(1, n + 1, dtype=torch.float32))
            mixer.A_log.copy_(a_log.expand_as(mixer.A_log) - 2.0
                              + 1.5 * randn(mixer.A_log.shape))
            mixer.D.copy_(0.5 * randn(mixer.D.shape))
            u = torch.rand(mixer.dt_proj.bias.shape, generator=g)
            dt = torch.exp(u * (math.log(0.5) - math.log(0.01)) + math.log(0.01))
            mixer.dt_proj.bias.copy_(inv_softplus(dt))
            mixer.dt_proj.weight.mul_(2.0)
            mixer.x_proj.weight[r:].mul_(4.0)
            if mixer.conv1d.bias is not None:
                mixer.conv1d.bias.copy_(0.2 * randn(mixer.conv1d.bias.shape))
            for lin in (mixer.in_proj, mixer.out_proj):
                if lin.bias is not None:
                    lin.bias.copy_(0.1 * randn(lin.bias.shape))
        model.backbone.norm_f.weight.copy_(2.0 * (1.0 + 0.3 * randn(shape["d_model"])))
        if not shape["tied"]:
            model.lm_head.weight.copy_(0.1 * randn(model.lm_head.weight.shape))
    pv = padded_vocab(shape["vocab_size"])
    extra = pv - shape["vocab_size"]
    pad_rows = {"embedding": 0.1 * randn(extra, shape["d_model"])}
    if not shape["tied"]:
        pad_rows["lm_head"] = 0.1 * randn(extra, shape["d_model"])
    return model, pad_rows


# --------------------------------------------------------------------------
# Writers.
# --------------------------------------------------------------------------
def write_hf(master, dtype, out_dir, sharded):
    model = MambaForCausalLM(master.config)
    model.load_state_dict(master.state_dict())
    model = model.to(TORCH_DTYPE[dtype]).eval()
    if sharded:
        total = sum(p.numel() * p.element_size() for p in model.state_dict().values())
        # Slightly more than half the bytes: exactly two shards.
        model.save_pretrained(out_dir, safe_serialization=True,
                              max_shard_size="%dKB" % (total // 1000 // 2 + 40))
        index = json.load(open(os.path.join(out_dir, "model.safetensors.index.json")))
        shards = sorted(set(index["weight_map"].values()))
        assert shards == ["model-00001-of-00002.safetensors",
                          "model-00002-of-00002.safetensors"], shards
    else:
        model.save_pretrained(out_dir, safe_serialization=True)
        assert os.path.exists(os.path.join(out_dir, "model.safetensors"))


def ssm_state_dict(master, pad_rows, dtype):
    """The state-spaces MambaLMHeadModel state dict (names, order, tying)."""
    cfg = master.config
    sd = master.state_dict()
    td = TORCH_DTYPE[dtype]
    emb = torch.cat([sd["backbone.embeddings.weight"], pad_rows["embedding"]]).to(td)
    out = {"backbone.embedding.weight": emb}
    mixer_keys = ["in_proj.weight", "in_proj.bias", "conv1d.weight", "conv1d.bias",
                  "x_proj.weight", "dt_proj.weight", "dt_proj.bias", "A_log", "D",
                  "out_proj.weight", "out_proj.bias"]
    for i in range(cfg.num_hidden_layers):
        for k in mixer_keys:
            name = "backbone.layers.%d.mixer.%s" % (i, k)
            if name in sd:
                out[name] = sd[name].to(td).clone()
        name = "backbone.layers.%d.norm.weight" % i
        out[name] = sd[name].to(td).clone()
    out["backbone.norm_f.weight"] = sd["backbone.norm_f.weight"].to(td).clone()
    if cfg.tie_word_embeddings:
        out["lm_head.weight"] = emb  # same tensor, one storage: as the real files
    else:
        out["lm_head.weight"] = torch.cat([sd["lm_head.weight"], pad_rows["lm_head"]]).to(td)
    return out


def ssm_config_json(shape):
    if shape["tied"] and shape["d_state"] == 16 and shape["d_conv"] == 4 and \
            shape["expand"] == 2 and shape["dt_rank"] == "auto" and not shape["use_bias"] \
            and shape["conv_bias"]:
        # Exactly the key set of state-spaces/mamba-130m's config.json.
        return {"d_model": shape["d_model"], "n_layer": shape["n_layer"],
                "vocab_size": shape["vocab_size"], "ssm_cfg": {}, "rms_norm": True,
                "residual_in_fp32": True, "fused_add_norm": True,
                "pad_vocab_size_multiple": PAD_VOCAB_MULTIPLE}
    # mamba_ssm 2.x MambaConfig keys; ssm_cfg holds Mamba(...) constructor args.
    return {"d_model": shape["d_model"], "d_intermediate": 0, "n_layer": shape["n_layer"],
            "vocab_size": shape["vocab_size"],
            "ssm_cfg": {"d_state": shape["d_state"], "d_conv": shape["d_conv"],
                        "expand": shape["expand"], "dt_rank": shape["dt_rank"],
                        "conv_bias": shape["conv_bias"], "bias": shape["use_bias"]},
            "attn_layer_idx": [], "attn_cfg": {}, "rms_norm": True,
            "residual_in_fp32": True, "fused_add_norm": True,
            "pad_vocab_size_multiple": PAD_VOCAB_MULTIPLE,
            "tie_embeddings": shape["tied"]}


def write_ssm(master, pad_rows, shape, dtype, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(ssm_config_json(shape), f, indent=2)
        f.write("\n")
    torch.save(ssm_state_dict(master, pad_rows, dtype),
               os.path.join(out_dir, "pytorch_model.bin"))


# --------------------------------------------------------------------------
# Loading a folder into the float64 reference.
# --------------------------------------------------------------------------
def load_reference(model_dir):
    """Returns (float64 HF model, layout, config vocab size)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    if "d_model" in cfg:  # state-spaces layout
        ssm = cfg.get("ssm_cfg", {})
        d_model = cfg["d_model"]
        pv = padded_vocab(cfg["vocab_size"], cfg.get("pad_vocab_size_multiple", 1))
        hcfg = MambaConfig(
            vocab_size=pv, hidden_size=d_model, state_size=ssm.get("d_state", 16),
            num_hidden_layers=cfg["n_layer"], layer_norm_epsilon=cfg.get("norm_epsilon", 1e-5),
            expand=ssm.get("expand", 2), conv_kernel=ssm.get("d_conv", 4),
            use_bias=ssm.get("bias", False), use_conv_bias=ssm.get("conv_bias", True),
            time_step_rank=ssm.get("dt_rank", "auto"),
            residual_in_fp32=cfg.get("residual_in_fp32", True),
            tie_word_embeddings=cfg.get("tie_embeddings", True))
        sd = torch.load(os.path.join(model_dir, "pytorch_model.bin"), map_location="cpu")
        model = MambaForCausalLM(hcfg)
        # As transformers' convert_mamba_ssm_checkpoint_to_pytorch.py: no renames;
        # MambaModel's load hook maps "embedding." to "embeddings.".
        model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
        return model.double().eval(), "state_spaces", cfg["vocab_size"]
    model = MambaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float64)
    return model.double().eval(), "hf", cfg["vocab_size"]


def hf_run(model, tokens, with_state=True):
    """Logits (L, V) float64 and the final cache, from one full-sequence pass.

    with_state=False skips the cache (transformers >= 4.42 cannot build one on
    torch 1.13) and returns None for the states.
    """
    ids = torch.tensor([tokens])
    with torch.no_grad():
        out = model.backbone(input_ids=ids, use_cache=with_state)
        logits = model.lm_head(out.last_hidden_state)[0]
        stock = model(input_ids=ids, use_cache=False).logits[0]  # float32 output
    assert logits.dtype == torch.float64
    rel = ((stock.double() - logits).abs().max() / logits.abs().max()).item()
    assert rel < 1e-6, rel
    if not with_state:
        return logits, None, None
    cache = out.cache_params
    n = model.config.num_hidden_layers
    conv = [cache.conv_states[i][0].clone() for i in range(n)]
    ssm = [cache.ssm_states[i][0].clone() for i in range(n)]
    return logits, conv, ssm


def hf_decode_logits(model, tokens, prefill):
    """HF's own recurrent path: prefill `prefill` tokens, then one at a time."""
    with torch.no_grad():
        out = model.backbone(input_ids=torch.tensor([tokens[:prefill]]), use_cache=True)
        rows = [model.lm_head(out.last_hidden_state)[0]]
        cache = out.cache_params
        for t in tokens[prefill:]:
            out = model.backbone(input_ids=torch.tensor([[t]]), cache_params=cache,
                                 use_cache=True)
            cache = out.cache_params
            rows.append(model.lm_head(out.last_hidden_state)[0])
    n = model.config.num_hidden_layers
    return (torch.cat(rows), [cache.conv_states[i][0] for i in range(n)],
            [cache.ssm_states[i][0] for i in range(n)])


def mambapy_model(hf_model):
    """mambapy LM holding the same float64 weights (its lm_head is never tied)."""
    c = hf_model.config
    mcfg = MambapyConfig(d_model=c.hidden_size, n_layers=c.num_hidden_layers,
                         dt_rank=c.time_step_rank, d_state=c.state_size,
                         expand_factor=c.expand, d_conv=c.conv_kernel,
                         rms_norm_eps=c.layer_norm_epsilon, bias=c.use_bias,
                         conv_bias=c.use_conv_bias)
    lm = MambapyLM(mcfg, vocab_size=c.vocab_size)
    sd = {}
    for k, v in hf_model.state_dict().items():
        k = k.replace("backbone.embeddings.", "embedding.")
        k = k.replace("backbone.layers.", "mamba.layers.")
        k = k.replace("backbone.norm_f.", "norm_f.")
        sd[k] = v
    lm.load_state_dict(sd, strict=True)
    return lm.double().eval()


def mambapy_run(lm, tokens):
    ids = torch.tensor([tokens])
    with torch.no_grad():
        logits = lm(ids)[0]
        c = lm.config
        caches = [(None, torch.zeros(1, c.d_inner, c.d_conv - 1, dtype=torch.float64))
                  for _ in range(c.n_layers)]
        rows = []
        for t in tokens:
            row, caches = lm.step(torch.tensor([t]), caches)
            rows.append(row[0])
    return logits, torch.stack(rows), caches


@contextlib.contextmanager
def pure_float64():
    """Disables the float64 -> float32 casts inside both references.

    HF's slow path casts to float32 in MambaRMSNorm (`.to(torch.float32)`), the
    fp32 residual (`residual.to(torch.float32)`), `A_log.float()`, `B.float()`
    and `hidden_states.float()`; mambapy casts `A_log.float()`, `D.float()`.
    This context turns those casts of float64 tensors into no-ops, to measure
    how far the stock references are from exact float64 arithmetic.
    """
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


def sensitivity(model, tokens, logits, ctx):
    """How much the golden depends on the scan and on the recurrent state."""
    out = {}
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    r, n = model.config.time_step_rank, model.config.state_size
    try:
        with torch.no_grad(), ctx():
            for layer in model.backbone.layers:
                layer.mixer.x_proj.weight[r + n:].zero_()  # C = 0: no scan output
            out["sensitivity_scan_output_zeroed"] = maxdiff(
                hf_run(model, tokens, with_state=False)[0], logits)
            model.load_state_dict(saved)
            first = [1 if tokens[0] != 1 else 2] + list(tokens[1:])
            out["sensitivity_first_token_changed_last_position"] = maxdiff(
                hf_run(model, first, with_state=False)[0][-1], logits[-1])
    finally:
        model.load_state_dict(saved)
    return out


def maxdiff(a, b):
    return (a - b).abs().max().item()


# --------------------------------------------------------------------------
# Golden file.
# --------------------------------------------------------------------------
def golden_for(case, shape_name, layout, dtype, out_dir, alt_python, stock):
    shape = SHAPES[shape_name]
    tokens = tokens_for(shape)
    model, loaded_layout, config_vocab = load_reference(out_dir)
    assert loaded_layout == ("state_spaces" if layout == "state_spaces" else "hf")
    lm = mambapy_model(model)
    golden_ctx = contextlib.nullcontext if stock else pure_float64
    with golden_ctx():
        logits, conv, ssm = hf_run(model, tokens)
        dec_logits, dec_conv, dec_ssm = hf_decode_logits(model, tokens, prefill=5)
        mp_logits, mp_step_logits, mp_caches = mambapy_run(lm, tokens)
    c = model.config

    checks = {}
    checks["hf_decode_vs_golden_logits"] = maxdiff(dec_logits, logits)
    checks["hf_decode_vs_golden_ssm_state"] = max(maxdiff(a, b) for a, b in zip(dec_ssm, ssm))
    checks["hf_decode_vs_golden_conv_state"] = max(
        maxdiff(a, b) for a, b in zip(dec_conv, conv))
    checks["mambapy_vs_golden_logits"] = maxdiff(mp_logits, logits)
    checks["mambapy_step_vs_golden_logits"] = maxdiff(mp_step_logits, logits)
    checks["mambapy_step_vs_golden_ssm_state"] = max(
        maxdiff(h[0], s) for (h, _), s in zip(mp_caches, ssm))
    # mambapy keeps the K-1 most recent conv inputs; HF keeps K (oldest first).
    checks["mambapy_step_vs_golden_conv_state_last_k_minus_1"] = max(
        maxdiff(inp[0], cs[:, 1:]) for (_, inp), cs in zip(mp_caches, conv))
    other_ctx = pure_float64 if stock else contextlib.nullcontext
    with other_ctx():
        o_logits, o_conv, o_ssm = hf_run(model, tokens)
        o_mp_logits, _, _ = mambapy_run(lm, tokens)
    other = "pure_float64" if stock else "stock"
    checks["%s_hf_vs_golden_logits" % other] = maxdiff(o_logits, logits)
    checks["%s_hf_vs_golden_ssm_state" % other] = max(maxdiff(a, b) for a, b in zip(o_ssm, ssm))
    checks["%s_hf_vs_golden_conv_state" % other] = max(
        maxdiff(a, b) for a, b in zip(o_conv, conv))
    checks["%s_mambapy_vs_golden_logits" % other] = maxdiff(o_mp_logits, logits)
    # What a float32 engine can expect: the stock reference run in float32.
    m32 = copy.deepcopy(model).float()
    with torch.no_grad():
        f32 = m32(input_ids=torch.tensor([tokens]), use_cache=False).logits[0].double()
        f32_mp = copy.deepcopy(lm).float()(torch.tensor([tokens]))[0].double()
    checks["float32_hf_vs_golden_logits"] = maxdiff(f32, logits)
    checks["float32_mambapy_vs_golden_logits"] = maxdiff(f32_mp, logits)
    checks.update(sensitivity(model, tokens, logits, golden_ctx))
    if alt_python:
        cmd = [alt_python, os.path.abspath(__file__), "reference", out_dir,
               "--tokens", ",".join(map(str, tokens))] + (["--stock"] if stock else [])
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        alt = json.loads(res.stdout)
        checks["alt_reference"] = alt["reference"]
        checks["alt_reference_vs_golden_logits"] = maxdiff(
            torch.tensor(alt["logits"], dtype=torch.float64), logits)

    # Logits must vary meaningfully between positions and across the vocab.
    per_pos_spread = (logits - logits.mean(0)).abs().max(1).values.min().item()
    assert per_pos_spread > 0.1, per_pos_spread
    assert logits.std().item() > 0.3

    golden = {
        "case": case,
        "reference": reference_name(stock),
        "layout": layout,
        "weight_dtype": dtype,
        "model": {
            "d_model": c.hidden_size, "n_layer": c.num_hidden_layers,
            "d_state": c.state_size, "d_conv": c.conv_kernel, "expand": c.expand,
            "d_inner": c.intermediate_size, "dt_rank": c.time_step_rank,
            "config_vocab_size": config_vocab, "embedding_rows": c.vocab_size,
            "use_bias": c.use_bias, "conv_bias": c.use_conv_bias,
            "tied_lm_head": c.tie_word_embeddings, "rms_norm_eps": c.layer_norm_epsilon,
        },
        "tokens": tokens,
        "vocab_size": logits.shape[1],
        "max_abs_logit": logits.abs().max().item(),
        "checks": checks,
        "logits": logits.tolist(),
    }
    if layout == "hf":  # the state depends on the weights only; keep files small
        golden["final_state"] = {
            "note": ("per layer, batch 0, after all tokens, from HF's MambaCache. "
                     "conv[l] is (d_inner, d_conv): the d_conv most recent conv1d "
                     "inputs (x half of in_proj output, before the conv), oldest "
                     "first; only the last d_conv-1 columns feed the next step. "
                     "ssm[l] is (d_inner, d_state): h after the last token."),
            "conv": [t.tolist() for t in conv],
            "ssm": [t.tolist() for t in ssm],
        }
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    return logits, golden


# Cases that also get hidden_golden.json (the final normed hidden states, for
# the engine's embeddings): one tied and one untied shape, with and without
# biases. Kept to the F32 HF files: the states depend on the weights alone.
HIDDEN_CASES = [("tiny_hf_f32", "tiny"), ("alt_hf_untied_f32", "alt")]


def write_hidden_golden(case, shape_name, out_dir, stock):
    """hidden_golden.json: MambaModel's last_hidden_state at every position.

    last_hidden_state is the output of backbone.norm_f (RMSNorm), exactly what
    lm_head multiplies; an embedding is the mean of these rows over a text.
    Also records how far lm_head(last_hidden_state) is from golden.json's
    logits (0 when both came from the same run), and the float32 reference's
    distance from these numbers.
    """
    shape = SHAPES[shape_name]
    tokens = tokens_for(shape)
    model, _, _ = load_reference(out_dir)
    ids = torch.tensor([tokens])
    with torch.no_grad():
        with (contextlib.nullcontext() if stock else pure_float64()):
            hidden = model.backbone(input_ids=ids, use_cache=False).last_hidden_state[0]
            logits = model.lm_head(hidden)
        f32 = copy.deepcopy(model).float().backbone(
            input_ids=ids, use_cache=False).last_hidden_state[0].double()
    assert hidden.dtype == torch.float64
    golden_logits = torch.tensor(
        json.load(open(os.path.join(out_dir, "golden.json")))["logits"], dtype=torch.float64)
    checks = {
        "lm_head_of_hidden_vs_golden_json_logits": maxdiff(logits, golden_logits),
        "float32_hf_vs_hidden": maxdiff(f32, hidden),
        "float32_hf_vs_sum_over_positions": maxdiff(f32.sum(0), hidden.sum(0)),
    }
    out = {
        "case": case,
        "reference": reference_name(stock) + "; MambaModel(...).last_hidden_state (after norm_f)",
        "tokens": tokens,
        "d_model": hidden.shape[1],
        "checks": checks,
        "max_abs_hidden": hidden.abs().max().item(),
        "last_hidden_state": hidden.tolist(),
    }
    path = os.path.join(out_dir, "hidden_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    os.chmod(path, 0o644)
    print("%-22s hidden_golden.json bytes=%d max|h|=%.4f" % (
        case, os.path.getsize(path), out["max_abs_hidden"]))
    for k, v in checks.items():
        print("    %-50s %s" % (k, v))


def make_hidden(out_root, stock):
    torch.set_num_threads(1)
    for case, shape_name in HIDDEN_CASES:
        write_hidden_golden(case, shape_name, os.path.join(out_root, case), stock)


def make_all(out_root, alt_python, stock):
    torch.set_num_threads(1)
    masters = {name: build_master(name) for name in SHAPES}
    results = {}
    for case, shape_name, layout, dtype in CASES:
        out_dir = os.path.join(out_root, case)
        if os.path.isdir(out_dir):
            for f in os.listdir(out_dir):
                os.remove(os.path.join(out_dir, f))
        master, pad_rows = masters[shape_name]
        if layout == "state_spaces":
            write_ssm(master, pad_rows, SHAPES[shape_name], dtype, out_dir)
        else:
            write_hf(master, dtype, out_dir, sharded=(layout == "hf_sharded"))
        logits, golden = golden_for(case, shape_name, layout, dtype, out_dir, alt_python,
                                    stock)
        for f in os.listdir(out_dir):
            os.chmod(os.path.join(out_dir, f), 0o644)
        results[case] = logits
        size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
        print("%-22s %-12s %-4s bytes=%7d width=%d max|logit|=%.4f" % (
            case, layout, dtype, size, golden["vocab_size"], golden["max_abs_logit"]))
        for k, v in golden["checks"].items():
            print("    %-50s %s" % (k, v))
    # The same weights in different layouts give the same reference logits.
    v = SHAPES["tiny"]["vocab_size"]
    base = results["tiny_hf_f32"]
    for other in ["tiny_hf_sharded_f32", "tiny_ssm_f32"]:
        d = maxdiff(results[other][:, :v], base)
        print("layout check tiny_hf_f32 vs %s: max|diff| = %g" % (other, d))
        assert d <= 1e-12, (other, d)
    d = maxdiff(results["tiny_ssm_bf16"][:, :v], results["tiny_hf_bf16"])
    print("layout check tiny_hf_bf16 vs tiny_ssm_bf16: max|diff| = %g" % d)
    assert d <= 1e-12
    va = SHAPES["alt"]["vocab_size"]
    d = maxdiff(results["alt_ssm_untied_f32"][:, :va], results["alt_hf_untied_f32"])
    print("layout check alt_hf_untied_f32 vs alt_ssm_untied_f32: max|diff| = %g" % d)
    assert d <= 1e-12
    for low in ["tiny_hf_bf16", "tiny_hf_f16"]:
        print("dtype effect %s vs tiny_hf_f32: max|diff| = %g" % (
            low, maxdiff(results[low], base)))
    make_hidden(out_root, stock)
    print("versions:", json.dumps(versions()))


def reference_main(argv):
    p = argparse.ArgumentParser(prog="make_goldens.py reference")
    p.add_argument("model_dir")
    p.add_argument("--tokens", required=True, help="comma-separated token ids")
    p.add_argument("--state", action="store_true", help="also print the final state")
    p.add_argument("--stock", action="store_true",
                   help="keep HF's internal float32 casts (default: all float64, as the goldens)")
    a = p.parse_args(argv)
    tokens = [int(t) for t in a.tokens.split(",")]
    model, layout, config_vocab = load_reference(a.model_dir)
    with (contextlib.nullcontext() if a.stock else pure_float64()):
        logits, conv, ssm = hf_run(model, tokens, with_state=a.state)
    out = {"reference": reference_name(a.stock), "layout": layout, "tokens": tokens,
           "vocab_size": logits.shape[1], "config_vocab_size": config_vocab,
           "logits": logits.tolist()}
    if a.state:
        out["final_state"] = {"conv": [t.tolist() for t in conv],
                              "ssm": [t.tolist() for t in ssm]}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "reference":
        reference_main(sys.argv[2:])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "hidden":
        # Only the hidden_golden.json files, from the checkpoints already here.
        p = argparse.ArgumentParser(prog="make_goldens.py hidden")
        p.add_argument("--out", default=HERE)
        p.add_argument("--stock", action="store_true")
        a = p.parse_args(sys.argv[2:])
        make_hidden(a.out, a.stock)
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=HERE, help="output root (default: this folder)")
    p.add_argument("--alt-python", default=None,
                   help="python of a second virtualenv (another transformers release) "
                        "for a cross-check, e.g. /work/.venv-ref-alt/bin/python")
    p.add_argument("--stock", action="store_true",
                   help="goldens from the stock slow_forward, float32 casts kept")
    a = p.parse_args()
    make_all(a.out, a.alt_python, a.stock)


if __name__ == "__main__":
    main()
