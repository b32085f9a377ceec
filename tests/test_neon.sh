#!/usr/bin/env bash
# The arm64 NEON kernels (engine/cpu/quant_neon.c) on an x86 machine: a cross
# build (tests/cross/aarch64-linux-gnu.ini, warnings as errors) whose unit
# tests run under qemu user emulation, once on a CPU with dotprod (qemu
# '-cpu max': the neon-dotprod kernels) and once without (Cortex-A53,
# Armv8.0: the plain NEON kernels), each time checking that the kernels of
# that path are the ones under test:
#   test_simd    every NEON kernel against the scalar reference
#   test_quant   the scalar reference built for arm64 (quantizers byte-exact
#                with llama.cpp's files: no fused multiply-adds crept in)
#   test_parity  the llama.cpp goldens at the scalar and the NEON level
# About 7 minutes of CPU time in all (measured: 7m13s user; 14.6 min wall on
# a loaded 2-core machine), two thirds of it the two parity runs.
# Needs aarch64-linux-gnu-gcc and qemu-aarch64 (Debian/Ubuntu:
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user); without them it
# fails, naming the package, rather than skip: CI installs them, and a skip
# would hide a broken arm64 build.  Exclude it with
# 'meson test --no-suite neon'.
#   tests/test_neon.sh [BUILDDIR]   default $HK_BUILD_ROOT/neon (meson test
#                                   sets HK_BUILD_ROOT), else ./build-neon
# HK_NEON_JOBS caps the compile jobs.  Prints "ok"/"FAIL" per step.
set -u
src=${HK_SOURCE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
if [ $# -ge 1 ]; then
  bd=$1
elif [ -n "${HK_BUILD_ROOT:-}" ]; then
  bd=$HK_BUILD_ROOT/neon
else
  bd=$src/build-neon
fi
cross=$src/tests/cross/aarch64-linux-gnu.ini
sysroot=/usr/aarch64-linux-gnu

need() { # command, package
  command -v "$1" >/dev/null 2>&1 || { echo "FAIL test_neon: $1 not found (apt-get install $2)"; exit 1; }
}
need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
need qemu-aarch64 qemu-user
need meson meson
need ninja ninja-build
[ -f "$sysroot/include/stdio.h" ] ||
  { echo "FAIL test_neon: no arm64 C library headers in $sysroot (apt-get install libc6-dev-arm64-cross)"; exit 1; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
fails=0
step() { # name, command...: runs it with output in $log
  local name=$1; shift
  if "$@" >"$log" 2>&1; then
    echo "ok   $name"
    return 0
  fi
  echo "FAIL $name"
  tail -n 30 "$log" | sed 's/^/     /'
  fails=$((fails + 1))
  return 1
}

if [ ! -f "$bd/build.ninja" ]; then
  step "meson setup $bd (aarch64 cross, -Dwerror=true)" \
    meson setup "$bd" "$src" --cross-file "$cross" -Dvulkan=disabled -Dwerror=true -Dbuildtype=release ||
    { echo "test_neon: $fails failed"; exit 1; }
fi
step "compile test_simd test_quant test_parity for arm64" \
  meson compile -C "$bd" ${HK_NEON_JOBS:+-j "$HK_NEON_JOBS"} test_simd test_quant test_parity ||
  { echo "test_neon: $fails failed"; exit 1; }

# One run: qemu cpu model, kernel label expected at the NEON level, test.
run() {
  local cpu=$1 label=$2 t=$3
  if ! step "$t on -cpu $cpu" qemu-aarch64 -L "$sysroot" -cpu "$cpu" "$bd/tests/$t"; then
    return
  fi
  if [ "$t" = test_simd ]; then
    # every kernel of the NEON level is the expected path's ("neon" does
    # not match "neon-dotprod"), none is scalar
    local line total ours
    line=$(grep '^level neon: ' "$log")
    total=$(echo "$line" | grep -o '=' | wc -l)
    ours=$(echo "$line" | grep -oE "=$label( |$)" | wc -l)
    if [ "$total" -gt 0 ] && [ "$ours" -eq "$total" ]; then
      echo "ok   test_simd on -cpu $cpu ran the $label kernels"
    else
      echo "FAIL test_simd on -cpu $cpu did not run the $label kernels: ${line:-no 'level neon:' line}"
      fails=$((fails + 1))
    fi
  fi
}
for cpu in max cortex-a53; do
  if [ "$cpu" = max ]; then label=neon-dotprod; else label=neon; fi
  run "$cpu" "$label" test_simd
  run "$cpu" "$label" test_quant
  run "$cpu" "$label" test_parity
done
echo "test_neon: $fails failed"
[ "$fails" -eq 0 ]
