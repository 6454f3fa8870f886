#!/usr/bin/env python3
"""Writes the RWKV-7 (x070) and RWKV-6 (x060) parity goldens under tests/data/rwkv/.

Each case is a small random-weight checkpoint in BlinkDL's own format (a
torch.save'd dict of tensors with the names, shapes and order that RWKV-LM's
training code gives them) plus `golden.json`: the logits of the reference at
every position of a fixed token sequence, fed one token at a time, and the
reference's recurrent state after the last token.

Reference: the `rwkv` pip package (BlinkDL's ChatRWKV inference code),
`rwkv.model.RWKV(model=<path without .pth>, strategy='cpu fp32')`, with
RWKV_JIT_ON=0, RWKV_CUDA_ON=0 and, for x070, RWKV_V7_ON=1 set before the
import; `logits, state = model.forward([token], state)`. The x070 and x060
classes need different environments at import time, so every reference run is
a subprocess of this script (`make_goldens.py reference ...`).

The golden is the package run on the checkpoint's values widened exactly to
float32 (a temporary F32 copy of the file). For F32 files that is the file
itself. For BF16 files it is what an fp32 engine computes from the BF16
weights; loading the BF16 file directly gives the same numbers for x070
(recorded as check `bf16_file_direct_vs_golden`, 0.0) but not for x060: the
package's x060 loader LayerNorms `emb.weight` with ln0 BEFORE widening, in
bf16, so its embeddings are rounded to bf16 (the difference is recorded).

Also checked and recorded in each golden.json under "checks": the package's
sequence mode (`forward(tokens, None, full_output=True)`) against the
one-token-at-a-time logits and state, and how far the last logits move when
token 0 is changed (the state carries information across the whole input).
A sanity run of the package on the real trained fixture
../shared/fixtures/models/rwkv7-tiny-834K (rwkv.cpp's expected logits) is
printed.

Versions used for the committed files: Python 3.11.2, torch 1.13.0a0
(Debian bookworm python3-torch), rwkv 0.8.32 (its x070 loader patched to not
pass mmap=True to torch.load), safetensors 0.8.0, numpy 1.24.2.

Usage (see README.md):
  /work/.venv-ref/bin/python tests/data/rwkv/make_goldens.py [--out DIR]
  /work/.venv-ref/bin/python tests/data/rwkv/make_goldens.py reference \
      --version 7 --model DIR/model.pth --tokens 1,2,3 [--print]
"""

import argparse
import collections
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
FIXTURE_DIR = os.path.abspath(
    os.path.join(REPO, "..", "shared", "fixtures", "models", "rwkv7-tiny-834K"))

# --------------------------------------------------------------------------
# Cases.
# --------------------------------------------------------------------------

# x070: C=128, head size 64 (H=2), 3 layers (so that layer 2's v_first is
# layer 0's v, not layer 1's), ffn 3C, vocab 300, four different LoRA ranks.
V7_SHAPE = dict(n_embd=128, head_size=64, n_layer=3, dim_ffn=384, vocab_size=300,
                d_decay_lora=16, d_aaa_lora=12, d_mv_lora=8, d_gate_lora=24)
# x060: C=128, head size 32 (H=4), 2 layers, ffn 3.5C (RWKV-LM's default
# int(3.5 C) // 32 * 32 = 448), vocab 270, own LoRA ranks.
V6_SHAPE = dict(n_embd=128, head_size=32, n_layer=2, dim_ffn=448, vocab_size=270,
                d_mix_lora=8, d_decay_lora=16)

# Highest id first, id 0, a run of three equal ids, ids spread over the vocab.
V7_TOKENS = [299, 0, 17, 150, 150, 42, 281, 7, 99, 213, 256, 3,
             64, 128, 199, 250, 1, 298, 77, 77, 77, 145, 233, 10]
V6_TOKENS = [269, 5, 0, 133, 133, 61, 240, 12, 88, 201, 255, 2,
             47, 119, 180, 230, 1, 268, 99, 99, 99, 150, 222, 31]

# (name, version, weight dtype, seed, pickle container, also safetensors)
CASES = [
    ("v7_f32", 7, "F32", 7001, "dict", True),
    ("v7_bf16", 7, "BF16", 7002, "OrderedDict", False),
    ("v6_f32", 6, "F32", 6001, "state_dict", False),
    ("v6_bf16", 6, "BF16", 6002, "state_dict", False),
]

# --------------------------------------------------------------------------
# Formatting.
# --------------------------------------------------------------------------


def f32_str(x):
    """Shortest decimal string that reads back as the same float32."""
    import numpy as np
    s = str(np.float32(x))
    assert s not in ("nan", "inf", "-inf"), s
    return s


def f32_list(values):
    return "[" + ",".join(f32_str(v) for v in values) + "]"


def nested_f32(t, indent):
    """JSON text for a float32 tensor: innermost rows on one line each."""
    if t.dim() == 1:
        return f32_list(t.tolist())
    pad = " " * (indent + 1)
    inner = (",\n" + pad).join(nested_f32(t[i], indent + 1) for i in range(t.shape[0]))
    return "[" + inner + "]"


def write_golden(path, header, logits, state):
    """header: plain JSON values; logits [T, V] and state tensors float32."""
    parts = ["{"]
    for key, value in header.items():
        parts.append(json.dumps(key) + ": " + json.dumps(value) + ",")
    parts.append('"logits": ' + nested_f32(logits, 10) + ",")
    parts.append('"final_state": {')
    parts.append('"note": ' + json.dumps(state["note"]) + ",")
    parts.append('"att_x_prev": ' + nested_f32(state["att_x_prev"], 14) + ",")
    parts.append('"ffn_x_prev": ' + nested_f32(state["ffn_x_prev"], 14) + ",")
    parts.append('"wkv": ' + nested_f32(state["wkv"], 7))
    parts.append("}}")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


# --------------------------------------------------------------------------
# Checkpoints: modules that mirror RWKV-LM's training classes, so that
# state_dict() gives BlinkDL's names, shapes and order.
# --------------------------------------------------------------------------


def build_v7_module(s):
    """RWKV-v7/train_temp/src/model.py: RWKV_Tmix_x070, RWKV_CMix_x070, Block, RWKV."""
    import torch
    from torch import nn
    C, N, F, V = s["n_embd"], s["head_size"], s["dim_ffn"], s["vocab_size"]
    H = C // N

    class Tmix(nn.Module):
        def __init__(self):
            super().__init__()
            for name in ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"]:
                setattr(self, name, nn.Parameter(torch.zeros(1, 1, C)))
            self.w1 = nn.Parameter(torch.zeros(C, s["d_decay_lora"]))
            self.w2 = nn.Parameter(torch.zeros(s["d_decay_lora"], C))
            self.w0 = nn.Parameter(torch.zeros(1, 1, C))
            self.a1 = nn.Parameter(torch.zeros(C, s["d_aaa_lora"]))
            self.a2 = nn.Parameter(torch.zeros(s["d_aaa_lora"], C))
            self.a0 = nn.Parameter(torch.zeros(1, 1, C))
            self.v1 = nn.Parameter(torch.zeros(C, s["d_mv_lora"]))
            self.v2 = nn.Parameter(torch.zeros(s["d_mv_lora"], C))
            self.v0 = nn.Parameter(torch.zeros(1, 1, C))
            self.g1 = nn.Parameter(torch.zeros(C, s["d_gate_lora"]))
            self.g2 = nn.Parameter(torch.zeros(s["d_gate_lora"], C))
            self.k_k = nn.Parameter(torch.zeros(1, 1, C))
            self.k_a = nn.Parameter(torch.zeros(1, 1, C))
            self.r_k = nn.Parameter(torch.zeros(H, N))
            self.receptance = nn.Linear(C, C, bias=False)
            self.key = nn.Linear(C, C, bias=False)
            self.value = nn.Linear(C, C, bias=False)
            self.output = nn.Linear(C, C, bias=False)
            self.ln_x = nn.GroupNorm(H, C, eps=64e-5)

    class Cmix(nn.Module):
        def __init__(self):
            super().__init__()
            self.x_k = nn.Parameter(torch.zeros(1, 1, C))
            self.key = nn.Linear(C, F, bias=False)
            self.value = nn.Linear(F, C, bias=False)

    class Block(nn.Module):
        def __init__(self, layer_id):
            super().__init__()
            self.ln1 = nn.LayerNorm(C)
            self.ln2 = nn.LayerNorm(C)
            if layer_id == 0:
                self.ln0 = nn.LayerNorm(C)
            self.att = Tmix()
            self.ffn = Cmix()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, C)
            self.blocks = nn.ModuleList([Block(i) for i in range(s["n_layer"])])
            self.ln_out = nn.LayerNorm(C)
            self.head = nn.Linear(C, V, bias=False)

    return Model()


def build_v6_module(s):
    """RWKV-v5/src/model.py (x060): RWKV_Tmix_x060, RWKV_CMix_x060, Block, RWKV."""
    import torch
    from torch import nn
    C, N, F, V = s["n_embd"], s["head_size"], s["dim_ffn"], s["vocab_size"]
    H = C // N
    Dm, Dd = s["d_mix_lora"], s["d_decay_lora"]

    class Tmix(nn.Module):
        def __init__(self):
            super().__init__()
            for name in ["time_maa_x", "time_maa_w", "time_maa_k", "time_maa_v",
                         "time_maa_r", "time_maa_g"]:
                setattr(self, name, nn.Parameter(torch.zeros(1, 1, C)))
            self.time_maa_w1 = nn.Parameter(torch.zeros(C, Dm * 5))
            self.time_maa_w2 = nn.Parameter(torch.zeros(5, Dm, C))
            self.time_decay = nn.Parameter(torch.zeros(1, 1, C))
            self.time_decay_w1 = nn.Parameter(torch.zeros(C, Dd))
            self.time_decay_w2 = nn.Parameter(torch.zeros(Dd, C))
            self.time_faaaa = nn.Parameter(torch.zeros(H, N))
            self.receptance = nn.Linear(C, C, bias=False)
            self.key = nn.Linear(C, C, bias=False)
            self.value = nn.Linear(C, C, bias=False)
            self.output = nn.Linear(C, C, bias=False)
            self.gate = nn.Linear(C, C, bias=False)
            self.ln_x = nn.GroupNorm(H, C, eps=64e-5)

    class Cmix(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_maa_k = nn.Parameter(torch.zeros(1, 1, C))
            self.time_maa_r = nn.Parameter(torch.zeros(1, 1, C))
            self.key = nn.Linear(C, F, bias=False)
            self.receptance = nn.Linear(C, C, bias=False)
            self.value = nn.Linear(F, C, bias=False)

    class Block(nn.Module):
        def __init__(self, layer_id):
            super().__init__()
            self.ln1 = nn.LayerNorm(C)
            self.ln2 = nn.LayerNorm(C)
            if layer_id == 0:
                self.ln0 = nn.LayerNorm(C)
            self.att = Tmix()
            self.ffn = Cmix()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, C)
            self.blocks = nn.ModuleList([Block(i) for i in range(s["n_layer"])])
            self.ln_out = nn.LayerNorm(C)
            self.head = nn.Linear(C, V, bias=False)

    return Model()


def init_value(name, shape, s, gen):
    """Random value for one tensor, chosen so that every path matters and
    nothing saturates (a trained model's spread, not RWKV-LM's init, which
    zeroes the LoRA down-projections and the output matrices)."""
    import torch

    def uni(lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    def nrm(std):
        return std * torch.randn(shape, generator=gen)

    C, F = s["n_embd"], s["dim_ffn"]
    last = name.split(".")[-1]
    if name == "emb.weight":
        return nrm(0.5)
    if name == "head.weight":
        return nrm(0.25)
    # LayerNorm / GroupNorm: weight 1 +- 0.2, nonzero bias.
    if ".ln" in name or name.startswith("ln_out."):
        return uni(0.8, 1.2) if last == "weight" else nrm(0.1)
    # Token-shift mixing coefficients in (0, 1).
    if last in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g") or last.startswith("time_maa_") and \
            len(shape) == 3 and shape[0] == 1:
        return uni(0.05, 0.95)
    # x070 specifics.
    if last == "w0":        # decay exp(-0.606531 sigmoid(w0 + lora)): ~0.52 .. 0.9995
        return uni(-7.0, 1.5)
    if last == "a0":
        return uni(-1.0, 1.0)
    if last == "v0":
        return uni(-0.5, 1.5)
    if last in ("w1", "a1", "v1", "g1"):      # LoRA down: x @ W ~ N(0, ~1.1)
        return nrm(0.1)
    if last in ("w2", "a2", "v2"):
        return nrm(0.25)
    if last == "g2":
        return nrm(0.2)
    if last == "k_k":
        return uni(0.5, 1.2)
    if last == "k_a":
        return uni(0.6, 1.4)
    if last == "r_k":
        return nrm(0.1)
    # x060 specifics.
    if last == "time_maa_w1":
        return nrm(0.1)
    if last == "time_maa_w2":
        return nrm(0.15)
    if last == "time_decay":  # decay exp(-exp(td + lora)): ~0.03 .. 0.9993
        return uni(-7.0, 0.0)
    if last == "time_decay_w1":
        return nrm(0.1)
    if last == "time_decay_w2":
        return nrm(0.1)
    if last == "time_faaaa":
        return 0.3 + nrm(0.4)
    # Linear layers.
    if name.endswith("att.output.weight"):
        return nrm(0.5 / math.sqrt(C))
    if name.endswith("ffn.value.weight"):
        return nrm(0.5 / math.sqrt(F))
    if last == "weight" and len(shape) == 2:   # receptance, key, value, gate, ffn key
        return nrm(1.0 / math.sqrt(shape[1]))
    raise ValueError("no init rule for " + name)


def make_checkpoint(version, dtype, seed, container):
    """Returns (tensors as saved, the object to torch.save)."""
    import torch
    shape = V7_SHAPE if version == 7 else V6_SHAPE
    model = build_v7_module(shape) if version == 7 else build_v6_module(shape)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            t.copy_(init_value(name, tuple(t.shape), shape, gen))
    if dtype == "BF16":
        model = model.to(torch.bfloat16)
    sd = model.state_dict()   # OrderedDict with _metadata, as RWKV-LM's trainer saves
    names = list(sd.keys())
    if container == "dict":          # RWKV-LM epoch save: to_save_dict = {}; copy keys
        obj = {k: sd[k] for k in names}
    elif container == "OrderedDict":  # like the rwkv7-tiny fixture: no _metadata
        obj = collections.OrderedDict((k, sd[k]) for k in names)
    else:
        assert container == "state_dict"
        obj = sd
    return collections.OrderedDict((k, sd[k]) for k in names), obj


# --------------------------------------------------------------------------
# Value probe: pre-activation spreads on N(0,1) inputs (a stand-in for
# LayerNorm outputs), to show that nothing saturates.
# --------------------------------------------------------------------------


def probe(version, sd):
    import torch
    gen = torch.Generator().manual_seed(12345)
    out = {}
    for name in sd:
        if not name.startswith("blocks.") or not name.endswith((".att.w1", ".att.time_decay_w1")):
            continue
        p = name.rsplit(".", 1)[0] + "."
        w = {k[len(p):]: v.float() for k, v in sd.items() if k.startswith(p)}
        C = sd["emb.weight"].shape[1]
        x = torch.randn(2048, C, generator=gen)
        stats = {}
        if version == 7:
            w0 = w["w0"].flatten()
            pre_w = x @ w["w1"]
            dec = torch.exp(-0.606531 * torch.sigmoid(w0 + torch.tanh(pre_w) @ w["w2"]))
            a = torch.sigmoid(w["a0"].flatten() + (x @ w["a1"]) @ w["a2"])
            vg = torch.sigmoid(w["v0"].flatten() + (x @ w["v1"]) @ w["v2"])
            g = torch.sigmoid(x @ w["g1"]) @ w["g2"]
            stats["w1_preact_std"] = pre_w.std().item()
            stats["decay_min_max"] = [dec.min().item(), dec.max().item()]
            stats["a_min_max"] = [a.min().item(), a.max().item()]
            stats["v_gate_min_max"] = [vg.min().item(), vg.max().item()]
            stats["g_std"] = g.std().item()
        else:
            pre_m = x @ w["time_maa_w1"]
            m = torch.bmm(torch.tanh(pre_m).view(-1, 5, pre_m.shape[1] // 5).transpose(0, 1),
                          w["time_maa_w2"].view(5, -1, C))
            pre_d = x @ w["time_decay_w1"]
            dec = torch.exp(-torch.exp(w["time_decay"].flatten() +
                                       torch.tanh(pre_d) @ w["time_decay_w2"]))
            stats["maa_w1_preact_std"] = pre_m.std().item()
            stats["maa_lora_offset_std"] = m.std().item()
            stats["decay_w1_preact_std"] = pre_d.std().item()
            stats["decay_min_max"] = [dec.min().item(), dec.max().item()]
        out[p] = stats
    return out


# --------------------------------------------------------------------------
# Reference runs (subprocess: the package's x060/x070 choice is made at import).
# --------------------------------------------------------------------------


def reference_main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", type=int, choices=[6, 7], required=True)
    ap.add_argument("--model", required=True, help="path of a .pth file")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--out", help="torch.save the results here")
    ap.add_argument("--print", action="store_true", help="print the last logits")
    ap.add_argument("--fixture", action="store_true",
                    help="also check the package on the real rwkv7-tiny fixture")
    a = ap.parse_args(argv)

    os.environ["RWKV_JIT_ON"] = "0"
    os.environ["RWKV_CUDA_ON"] = "0"
    if a.version == 7:
        os.environ["RWKV_V7_ON"] = "1"
    else:
        os.environ.pop("RWKV_V7_ON", None)
    import contextlib
    import io
    import torch
    torch.set_num_threads(1)
    with contextlib.redirect_stdout(io.StringIO()):
        from rwkv.model import RWKV
    tokens = [int(t) for t in a.tokens.split(",")]

    def load(pth):
        with contextlib.redirect_stdout(io.StringIO()):
            return RWKV(model=pth[:-len(".pth")], strategy="cpu fp32")

    def run_steps(model, toks):
        state, rows = None, []
        for t in toks:
            logits, state = model.forward([t], state)
            rows.append(logits.detach().clone().float())
        return torch.stack(rows), [s.detach().clone() for s in state]

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        sd = torch.load(a.model, map_location="cpu")
        is_f32 = all(v.dtype == torch.float32 for v in sd.values())
        if is_f32:
            golden_path = a.model
        else:
            golden_path = os.path.join(tmp, "widened.pth")
            torch.save(collections.OrderedDict((k, v.float()) for k, v in sd.items()),
                       golden_path)
        model = load(golden_path)
        logits, state = run_steps(model, tokens)
        res["logits"] = logits
        res["state"] = state
        seq_logits, seq_state = model.forward(list(tokens), None, full_output=True)
        res["checks"] = {
            "seq_full_output_vs_steps_logits": (seq_logits - logits).abs().max().item(),
            "seq_full_output_vs_steps_state": max(
                (x.float() - y.float()).abs().max().item() for x, y in zip(seq_state, state)),
        }
        changed = [(tokens[0] + 1) % logits.shape[1]] + tokens[1:]
        res["checks"]["last_logits_moved_by_changing_token0"] = \
            (run_steps(model, changed)[0][-1] - logits[-1]).abs().max().item()
        if not is_f32:
            direct, _ = run_steps(load(a.model), tokens)
            res["checks"]["bf16_file_direct_vs_golden"] = (direct - logits).abs().max().item()
    if a.fixture:
        fx = json.load(open(os.path.join(FIXTURE_DIR, "expected_logits.json")))
        m = load(os.path.join(FIXTURE_DIR, "model.pth"))
        got, _ = run_steps(m, fx["input_bytes"])
        exp = torch.tensor(fx["logits_after_last_token"])
        res["fixture"] = {"tokens": fx["input_bytes"],
                          "max_abs_diff": (got[-1] - exp).abs().max().item(),
                          "max_abs_logit": got[-1].abs().max().item()}
    if a.print:
        print(" ".join(f32_str(v) for v in res["logits"][-1].tolist()))
        print(json.dumps(res["checks"]))
    if a.out:
        torch.save(res, a.out)


def run_reference(version, pth, tokens, fixture=False):
    import torch
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "res.pt")
        cmd = [sys.executable, os.path.abspath(__file__), "reference", "--version",
               str(version), "--model", pth, "--tokens", ",".join(map(str, tokens)),
               "--out", out] + (["--fixture"] if fixture else [])
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stdout + p.stderr)
            raise SystemExit("reference run failed: " + " ".join(cmd))
        return torch.load(out)


# --------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------


def state_to_json(version, state, n_layer):
    import torch
    att = torch.stack([state[3 * i + 0].float() for i in range(n_layer)])
    wkv = torch.stack([state[3 * i + 1].float() for i in range(n_layer)])
    ffn = torch.stack([state[3 * i + 2].float() for i in range(n_layer)])
    if version == 7:
        note = ("rwkv pip state after the last token. att_x_prev[l] = ln1(x) of the last "
                "token (time-mix shift), ffn_x_prev[l] = ln2(x) (channel-mix shift), "
                "wkv[l][h][i][j] with i the VALUE index and j the KEY index "
                "(x070: S = S*diag(w) + S@(-kk)(kk*a)^T + v k^T; out = S @ r).")
    else:
        note = ("rwkv pip state after the last token. att_x_prev[l] = ln1(x) of the last "
                "token (time-mix shift), ffn_x_prev[l] = ln2(x) (channel-mix shift), "
                "wkv[l][h][i][j] with i the KEY index and j the VALUE index "
                "(x060: S = k v^T + diag(w) S; out = r @ (u*k v^T + S)); "
                "transposed relative to x070.")
    return {"note": note, "att_x_prev": att, "ffn_x_prev": ffn, "wkv": wkv}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()

    import torch
    import importlib.metadata
    import safetensors
    import safetensors.torch
    torch.set_num_threads(1)
    print("versions: python %s, torch %s, safetensors %s, rwkv %s" % (
        sys.version.split()[0], torch.__version__, safetensors.__version__,
        importlib.metadata.version("rwkv")))

    written = []
    fixture_done = False
    for name, version, dtype, seed, container, with_st in CASES:
        shape = V7_SHAPE if version == 7 else V6_SHAPE
        tokens = V7_TOKENS if version == 7 else V6_TOKENS
        assert len(tokens) >= 20 and max(tokens) == shape["vocab_size"] - 1 and min(tokens) == 0
        d = os.path.join(a.out, name)
        os.makedirs(d, exist_ok=True)
        tensors, obj = make_checkpoint(version, dtype, seed, container)
        pth = os.path.join(d, "model.pth")
        torch.save(obj, pth)
        written.append(pth)
        if with_st:
            st = os.path.join(d, "model.safetensors")
            safetensors.torch.save_file(dict(tensors), st, metadata={"format": "pt"})
            written.append(st)
            back = safetensors.torch.load_file(st)
            assert all(torch.equal(back[k], v) for k, v in tensors.items())

        want_fixture = version == 7 and not fixture_done
        res = run_reference(version, pth, tokens, fixture=want_fixture)
        if want_fixture:
            fixture_done = True
            fx = res["fixture"]
            print("fixture rwkv7-tiny-834K tokens %s: package vs expected_logits.json "
                  "max abs diff %.3g (max |logit| %.3f)" % (
                      fx["tokens"], fx["max_abs_diff"], fx["max_abs_logit"]))
        logits = res["logits"]
        assert logits.shape == (len(tokens), shape["vocab_size"]), logits.shape
        assert torch.isfinite(logits).all()

        C, N = shape["n_embd"], shape["head_size"]
        model_info = dict(shape)
        model_info["n_head"] = C // N
        header = collections.OrderedDict()
        header["case"] = name
        header["version"] = "x070" if version == 7 else "x060"
        header["reference"] = (
            "rwkv pip 0.8.32 (BlinkDL), RWKV(model, strategy='cpu fp32'), RWKV_JIT_ON=0, "
            "RWKV_CUDA_ON=0%s, logits, state = model.forward([token], state) one token at a "
            "time; run on the checkpoint's values widened exactly to float32" % (
                ", RWKV_V7_ON=1" if version == 7 else ""))
        header["weight_dtype"] = dtype
        header["files"] = ["model.pth"] + (["model.safetensors"] if with_st else [])
        header["pickle_container"] = container
        header["model"] = model_info
        header["tokens"] = tokens
        header["vocab_size"] = shape["vocab_size"]
        header["max_abs_logit"] = float(f32_str(logits.abs().max().item()))
        header["logit_std"] = round(logits.std().item(), 4)
        header["max_abs_wkv"] = round(max(res["state"][3 * i + 1].abs().max().item()
                                          for i in range(shape["n_layer"])), 4)
        header["checks"] = res["checks"]
        golden = os.path.join(d, "golden.json")
        write_golden(golden, header, logits,
                     state_to_json(version, res["state"], shape["n_layer"]))
        written.append(golden)

        # Read back: the JSON round-trips every float32 exactly.
        g = json.load(open(golden))
        assert torch.equal(torch.tensor(g["logits"], dtype=torch.float32), logits)
        assert torch.equal(torch.tensor(g["final_state"]["wkv"], dtype=torch.float32),
                           torch.stack([res["state"][3 * i + 1].float()
                                        for i in range(shape["n_layer"])]))

        print("%s: %s %s, %d tensors, max |logit| %.3f, logit std %.3f, max |wkv| %.3f" % (
            name, header["version"], dtype, len(tensors), header["max_abs_logit"],
            header["logit_std"], header["max_abs_wkv"]))
        print("  checks: " + json.dumps(res["checks"]))
        for layer, st in probe(version, tensors).items():
            print("  probe %s %s" % (layer, json.dumps(
                {k: ([round(x, 4) for x in v] if isinstance(v, list) else round(v, 4))
                 for k, v in st.items()})))

    print("files:")
    total = 0
    for p in written:
        size = os.path.getsize(p)
        total += size
        print("  %-32s %9d  %s" % (os.path.relpath(p, a.out), size, sha256(p)[:16]))
    print("  total %d bytes" % total)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "reference":
        reference_main(sys.argv[2:])
    else:
        main()
