#!/usr/bin/env python3
"""Prints the Mamba-1 reference logits for one model folder as JSON.

Debugging aid for the C++ parity tests. The folder may be any layout that
make_goldens.py writes (HF config.json + model.safetensors or sharded
model-*.safetensors with model.safetensors.index.json, or a state-spaces
config.json + pytorch_model.bin). Same reference as the goldens: transformers
MambaForCausalLM slow_forward in float64 (see make_goldens.py for versions).

  /work/.venv-ref/bin/python tests/data/mamba1/generate_reference.py \
      tests/data/mamba1/tiny_hf_f32 --tokens 299,0,17 [--state] [--stock]

Output: {"reference", "layout", "tokens", "vocab_size", "config_vocab_size",
"logits": [[...] per position], "final_state" (with --state)}.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import make_goldens  # noqa: E402

if __name__ == "__main__":
    make_goldens.reference_main(sys.argv[1:])
