#!/usr/bin/env bash
# The CUDA backend's checks on a GPU host (H200: CUDA 13, CMake, ninja, Python
# with torch and transformers; no gRPC, no internet). Builds the engine and
# kernels with CUDA (no service), runs every GPU test, then benchmarks, and
# prints a short table at the end. Logs go to $OUT when set (else build-gpu/).
#
# Usage: tests/gpu/run.sh [--quick] [--tests-only]
#   GoogleTest: the host has no libgtest-dev; pass a source copy with
#   RS_GTEST_SOURCE_DIR (default: .gpu-deps/googletest, a copy of Debian's
#   /usr/src/googletest that the caller brings along).
set -uo pipefail
cd "$(dirname "$0")/../.."
quick=0
tests_only=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --tests-only) tests_only=1 ;;
    *) echo "unknown flag $a" >&2; exit 2 ;;
  esac
done
out="${OUT:-build-gpu}"
logs=build-gpu/logs  # full logs; $out gets the summary and the numbers
mkdir -p "$out" "$logs"
summary="$out/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }
t_start=$(date +%s)

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee -a "$summary"
nvcc --version | tail -1

gtest="${RS_GTEST_SOURCE_DIR:-$PWD/.gpu-deps/googletest}"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DRS_ENGINE_ONLY=ON -DRS_CUDA=ON \
  -DRS_BUILD_BENCHMARKS=OFF -DRS_GTEST_SOURCE_DIR="$gtest" >"$logs/cmake.log" 2>&1 || { tail -30 "$logs/cmake.log"; exit 1; }
targets=$(cd tests/gpu && ls gpu_*_test.cc 2>/dev/null | sed 's/\.cc$//' | tr '\n' ' ')
benches=$(cd tests/gpu && ls gpu_*_bench.cc 2>/dev/null | sed 's/\.cc$//' | tr '\n' ' ')
if ! ninja -C build-gpu -j "$(nproc)" recurrent $targets $benches >"$logs/build.log" 2>&1; then
  grep -E "error|FAILED" "$logs/build.log" | head -40
  exit 1
fi
note "build: $(( $(date +%s) - t_start )) s"

# ---- GPU tests ----------------------------------------------------------------
fail=0
for t in $targets; do
  if build-gpu/tests/gpu/$t --gtest_brief=1 >"$logs/$t.log" 2>&1; then
    note "PASS $t: $(grep -E '^\[  (PASSED|SKIPPED) ' "$logs/$t.log" | tr -s ' ' | tr '\n' ' ')"
  else
    fail=1
    note "FAIL $t"
    grep -vE "^\[ RUN|^\[       OK|^Running main" "$logs/$t.log" | head -60 | tee -a "$summary"
  fi
done
[ "$tests_only" = 1 ] && { cat "$summary"; exit $fail; }

# ---- Ceilings and benchmarks ----------------------------------------------------
for bch in $benches; do
  build-gpu/tests/gpu/$bch >"$out/$bch.txt" 2>&1
  grep -E "copy|M=1 |M=64 " "$out/$bch.txt" | grep -E "copy|BF16" | tee -a "$summary"
done

rec=build-gpu/cli/recurrent
models="mamba-130m mamba2-130m rwkv7-0.1b"
[ "$quick" = 1 ] || models="mamba-130m mamba-1.4b mamba2-130m rwkv7-0.1b rwkv7-1.5b rwkv6-0.1b"
models="${RS_GPU_MODELS:-$models}"  # override: e.g. RS_GPU_MODELS="mamba-1.4b mamba2-130m"
for shape in $models; do
  dir=build-gpu/models/$shape-bf16
  [ -d "$dir" ] || $rec init-random --out "$dir" --shape "$shape" --dtype bf16 >/dev/null || { note "init-random $shape failed"; continue; }
  runs=3; [ "$quick" = 1 ] && runs=2
  if $rec bench --model "$dir" --device cuda --prompt-len 2000 --gen 64 --batch 1,16,64,256 --runs $runs --json \
      >"$out/bench-$shape.json" 2>"$logs/bench-$shape.err"; then
    python3 - "$out/bench-$shape.json" "$shape" <<'PY' | tee -a "$summary"
import json, sys
b = json.load(open(sys.argv[1]))
bat = " ".join(f"B={e['batch']}:{e['tok_s']:.0f}" for e in b["batched"])
print(f"recurrent {sys.argv[2]} {b['weight_dtype']} on {b['device']}: prefill {b['prefill_tok_s']:.0f} tok/s, "
      f"decode {b['decode_tok_s']:.1f} tok/s = {100 * b['decode_tok_s'] / b['decode_roofline_tok_s']:.0f}% of the "
      f"roofline {b['decode_roofline_tok_s']:.0f} ({b['read_bandwidth_bytes_s'] / 1e9:.0f} GB/s copy); aggregate {bat}")
PY
  else
    note "recurrent $shape --device cuda: $(tail -1 "$logs/bench-$shape.err")"
  fi
  # Mamba-2 prefill once more in the chunked SSD form (opt-in; the run above used the recurrence).
  case "$shape" in
    mamba2-*)
      if $rec bench --model "$dir" --device cuda --prompt-len 2000 --gen 1 --batch 1 --runs $runs \
          --mamba2-ssd-min-tokens 64 --json >"$out/bench-$shape-ssd.json" 2>"$logs/bench-$shape-ssd.err"; then
        python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); print("recurrent %s chunked SSD form: prefill %.0f tok/s" % (sys.argv[2], b["prefill_tok_s"]))' \
          "$out/bench-$shape-ssd.json" "$shape" | tee -a "$summary"
      else
        note "recurrent $shape --mamba2-ssd-min-tokens 64: $(tail -1 "$logs/bench-$shape-ssd.err")"
      fi ;;
  esac
  # transformers for Mamba-1 only (hf_generate_bench.py loads MambaForCausalLM).
  case "${RS_GPU_NO_HF:-0}$shape" in  # RS_GPU_NO_HF=1 skips transformers
    0mamba-*)
      b=1,16,64; [ "$quick" = 1 ] || b=1,16,64,256
      python3 tests/gpu/hf_generate_bench.py "$dir" --batch $b --gen 64 --runs 2 2>"$logs/hf-$shape.err" \
        | sed "s/^/transformers $shape: /" | tee -a "$summary" || tail -5 "$logs/hf-$shape.err" ;;
  esac
done
note "total: $(( $(date +%s) - t_start )) s"
echo "==== summary ===="
cat "$summary"
exit $fail
