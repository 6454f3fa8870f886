#!/usr/bin/python3
"""Writes the checkpoint-reader fixtures of tests/io (small, committed).

Run with Debian's python (python3-torch 1.13) and, for the safetensors file,
a virtualenv that adds the `safetensors` package:
  /usr/bin/python3 -m venv --system-site-packages /work/.venv-io
  /work/.venv-io/bin/pip install safetensors
  /work/.venv-io/bin/python tests/data/io/make_io_fixtures.py

Outputs (next to this script):
  torch_state.pth          torch.save of a state dict (zip prefix "torch_state")
  torch_state_archive.pth  the same dict saved through a file object (prefix "archive")
  torch_nested.pth         {"state_dict": <the dict>, "epoch": 3}
  basic.safetensors        written by safetensors.torch.save_file
  expected.json            names, dtypes, shapes and values (as float lists), in file order
"""
import collections
import io
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
               torch.float64: "F64", torch.int64: "I64", torch.int32: "I32",
               torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def describe(sd):
    return [{"name": k, "dtype": DTYPE_NAMES[v.dtype], "shape": list(v.shape),
             "values": [float(x) for x in v.reshape(-1).tolist()]} for k, v in sd.items()]


def state_dict():
    g = torch.Generator().manual_seed(1234)
    sd = collections.OrderedDict()
    sd["f32.weight"] = torch.randn(3, 4, generator=g)
    sd["f16.weight"] = torch.randn(2, 3, generator=g).half()
    sd["bf16.weight"] = torch.randn(5, generator=g).bfloat16()
    tied = torch.randn(2, 2, generator=g)
    sd["tied.a"] = tied          # two names, one storage
    sd["tied.b"] = tied
    base = torch.arange(10, dtype=torch.float32) * 0.5
    sd["view.offset"] = base[4:7]                           # storage_offset 4
    sd["transposed"] = torch.randn(3, 5, generator=g).t()   # strides (1, 5)
    sd["i64.steps"] = torch.tensor([1, -2, 3000000000], dtype=torch.int64)
    sd["u8.mask"] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    sd["scalar"] = torch.tensor(3.5)
    sd["empty"] = torch.zeros(0, 4)
    assert not sd["transposed"].is_contiguous()
    assert sd["view.offset"].storage_offset() == 4
    sd._metadata = collections.OrderedDict({"": {"version": 1}, "f32": {"version": 2}})
    return sd


def save_file_struct(tensors, path, metadata=None):
    """safetensors by the spec: u64 LE header length, JSON header, data."""
    import struct
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dim() else \
            t.reshape(1).contiguous().view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def main():
    sd = state_dict()
    torch.save(sd, os.path.join(HERE, "torch_state.pth"))
    buf = io.BytesIO()
    torch.save(sd, buf)  # a file object: the zip prefix is "archive"
    with open(os.path.join(HERE, "torch_state_archive.pth"), "wb") as f:
        f.write(buf.getvalue())
    torch.save({"state_dict": sd, "epoch": 3}, os.path.join(HERE, "torch_nested.pth"))
    expected = {"torch_state": describe(sd)}

    try:
        from safetensors.torch import save_file
    except ImportError:  # no venv: write the format by hand (same values)
        save_file = save_file_struct
    g = torch.Generator().manual_seed(99)
    st = collections.OrderedDict()
    st["a.f32"] = torch.randn(4, 3, generator=g)
    st["b.f16"] = torch.randn(7, generator=g).half()   # 14 bytes: the next tensor is unaligned
    st["c.bf16"] = torch.randn(2, 3, generator=g).bfloat16()
    st["d.f64"] = torch.randn(2, generator=g).double()
    st["e.i32"] = torch.tensor([[-1, 2], [3, -4]], dtype=torch.int32)
    st["f.bool"] = torch.tensor([True, False, True])
    st["g.scalar"] = torch.tensor(-2.25)
    path = os.path.join(HERE, "basic.safetensors")
    save_file(st, path, metadata={"format": "pt"})
    # Expected in the file's header order (the writer sorts by alignment).
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        order = [k for k in json.loads(f.read(n)) if k != "__metadata__"]
    expected["basic"] = describe(collections.OrderedDict((k, st[k]) for k in order))

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
