# Shared helpers for scripts/serve, scripts/test and scripts/fuzz (sourced).

# ensure_packages PKG...: installs the Debian packages that are missing.
ensure_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

# Packages every build needs (engine, kernels, CLI, tests, benchmarks).
RS_BUILD_PACKAGES=(cmake ninja-build g++ make libgtest-dev libbenchmark-dev)
# Packages the gRPC service needs (the full build; -DRS_ENGINE_ONLY=ON skips it).
# openssl (the command) makes the TLS tests' certificates. The session store
# links SQLite and libpq; postgresql is the server its tests start themselves.
RS_SERVICE_PACKAGES=(libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev prometheus-cpp-dev
  libssl-dev openssl libsqlite3-dev libpq-dev postgresql)

# What only the tests need: nginx and Prometheus (with promtool) for the local
# cluster test (tests/cluster); perl for the CUDA emulator's source converter
# (tools/cuda_emu/gen.sh).
RS_TEST_PACKAGES=(nginx prometheus perl)

# Number of parallel build jobs.
rs_jobs() { nproc 2>/dev/null || echo 2; }
