#!/usr/bin/env bash
# tools/cuda_emu/run.sh [GTEST_FILTER]: the GPU tests (tests/gpu/gpu_*_test)
# on the CPU, through the CUDA emulator in this folder (see README.md), from
# the current working tree; no GPU, nvcc or CUDA toolkit needed.
#
# Builds, under the build folder (default tools/cuda_emu/build, git-ignored):
#   cpu/   a CPU-only CMake build of the engine and kernel libraries
#          (-DRS_ENGINE_ONLY=ON -DRS_CUDA=OFF), configured on first use;
#   gen/, obj/, bin/   the emulated kernels, CUDA models and tests (Makefile);
# then runs every test binary (with --gtest_filter=GTEST_FILTER if given) and
# prints one line per binary. Exit status: 0 iff every test passed.
# Logs: <build folder>/logs/. Environment: CUDA_EMU_BUILD (the build folder),
# CUDA_EMU_JOBS (parallel compiles, default 2). Compiles run under nice -n 19.
set -euo pipefail
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
esac
if [ $# -gt 1 ]; then
  usage >&2
  exit 2
fi
filter="${1:-}"
tool="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$tool/../.." && pwd)"
cd "$repo"
build="${CUDA_EMU_BUILD:-$tool/build}"
mkdir -p "$build/logs"
build="$(cd "$build" && pwd)"
logs="$build/logs"
jobs="${CUDA_EMU_JOBS:-2}"
t_start=$(date +%s)

# Runs "$@" with its output in log $1 (shown, the last lines, on failure).
logged() {
  local log="$logs/$1"
  shift
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED: $* (log: $log)" >&2
    grep -E -m 40 "error|Error|FAILED|undefined reference" "$log" >&2 || tail -40 "$log" >&2
    exit 1
  fi
}

# ---- CPU libraries ----------------------------------------------------------
cpu="$build/cpu"
if [ ! -f "$cpu/CMakeCache.txt" ]; then
  generator=()
  if command -v ninja >/dev/null; then generator=(-G Ninja); fi
  echo "configuring the CPU-only build in $cpu"
  logged cmake.log nice -n 19 cmake -S "$repo" -B "$cpu" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DRS_ENGINE_ONLY=ON -DRS_CUDA=OFF \
    -DRS_BUILD_TESTS=OFF -DRS_BUILD_BENCHMARKS=OFF
fi
echo "building the CPU libraries (-j$jobs)"
logged cpu-build.log nice -n 19 cmake --build "$cpu" -j "$jobs" \
  --target rs_engine rs_io rs_tokenizer rs_sampler rs_util rs_kernels

# ---- Emulated kernels, CUDA models and tests ----------------------------------
mk=(make --no-print-directory -f "$tool/Makefile" "B=$build" "CPU=$cpu")
echo "building the emulated GPU tests (-j$jobs)"
logged emu-build.log nice -n 19 "${mk[@]}" -j "$jobs" tests
t_built=$(date +%s)
echo "build: $((t_built - t_start)) s"

# ---- Run ----------------------------------------------------------------------
read -r -a tests <<<"$("${mk[@]}" -s list)"
for t in "$repo"/tests/gpu/gpu_*_test.cc; do
  name="$(basename "$t" .cc)"
  case " ${tests[*]} " in
    *" $name "*) ;;
    *) echo "SKIP $name (not built for the emulator: see tools/cuda_emu/README.md)" ;;
  esac
done
args=(--gtest_brief=1)
if [ -n "$filter" ]; then args+=("--gtest_filter=$filter"); fi
fail=0
for t in "${tests[@]}"; do
  log="$logs/$t.log"
  t0=$(date +%s)
  if "$build/bin/$t" "${args[@]}" >"$log" 2>&1; then status=PASS; else status=FAIL; fail=1; fi
  secs=$(($(date +%s) - t0))
  counts="$(grep -E '^\[  (PASSED|SKIPPED|FAILED) ' "$log" | tr -s ' ' | tr '\n' ' ' || true)"
  emu="$(grep -E '^emu: [0-9]+ graph launches' "$log" | sed 's/^emu: //' || true)"
  if grep -q '^\[==========\] 0 tests' "$log"; then
    echo "---- $t: no test matches the filter"
    continue
  fi
  echo "$status $t (${secs} s): ${counts}${emu:+[$emu]}"
  if [ "$status" = FAIL ]; then
    grep -vE '^\[ RUN|^\[       OK|^Running main' "$log" | head -60
  fi
done
echo "total: $(($(date +%s) - t_start)) s (logs: $logs)"
echo "A pass here is not a GPU pass: run tests/gpu/run.sh on a GPU before calling GPU work done."
exit "$fail"
