#!/usr/bin/env bash
# Backends end to end: hark devices, the Vulkan backend under the validation
# layer, and the CPU fallback (no driver, too little memory, a device lost
# mid-decode): one line on stderr, exit 0 and the CPU's exact output.
# Prints "ok"/"FAIL" per check; exits 77 (skipped) only when the machine has
# no Vulkan device at all, after the checks that need none have passed.
set -u
HARK=${HK_HARK:?}
SHARED=${HARK_SHARED:-$HK_SOURCE_ROOT/../shared}
FX=$SHARED/fixtures/llm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0
check() { # name, condition result (0 = pass)
  checks=$((checks + 1))
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); sed 's/^/     /' "$tmp/err" 2>/dev/null | head -5; fi
}
unset HARK_BACKEND HARK_DEVICE HARK_VK_VALIDATE HARK_VK_MEMORY_LIMIT HARK_VK_LOSE_AFTER
# Under HARK_VK_VALIDATE=1 also synchronization validation (missing barriers).
export VK_LAYER_SETTINGS_PATH=${VK_LAYER_SETTINGS_PATH:-$HK_SOURCE_ROOT/tests/vk_sync_validation.txt}
STORY=$FX/models/stories260K.gguf
F32=$FX/models/llama-tied-F32.gguf
TOKENS=$FX/goldens/llama-tied-F32.tokens.txt
NO_ICD=(env VK_ICD_FILENAMES=/nonexistent VK_DRIVER_FILES=/nonexistent)
fallback_re='^hark: vulkan: .*; running on the CPU$'

# 1. hark devices: every device listed, auto's choice named; without a
#    driver one line of reason, exit 0.
"$HARK" devices >"$tmp/dev" 2>"$tmp/err"; rc=$?
n_dev=$(grep -cE '^[ *] [0-9]+: ' "$tmp/dev")
if [ "$n_dev" -gt 0 ]; then grep -q '^auto: ' "$tmp/dev"; else [ "$(wc -l <"$tmp/dev")" -eq 1 ] && grep -q '^no Vulkan devices: ' "$tmp/dev"; fi
shape=$?
[ $rc -eq 0 ] && [ $shape -eq 0 ]
check "devices lists $n_dev device(s) and auto's pick (rc $rc)" $?
if [ "$n_dev" -gt 0 ]; then
  # auto never picks a CPU driver: a starred device is not of type CPU.
  ! grep -A1 -E '^\* [0-9]+: ' "$tmp/dev" | grep -q 'type CPU'
  check "auto does not pick a CPU driver" $?
  if ! grep -qE '^\* ' "$tmp/dev"; then
    grep -q '^auto: the CPU' "$tmp/dev"; check "no GPU: auto says CPU" $?
    # Finding no GPU must cost auto nothing: opening a CPU driver would keep
    # ~60 MiB (lavapipe's LLVM) resident; the model here needs ~4 MiB.
    "$HARK" bench -m "$STORY" -p 16 -n 8 -r 1 >"$tmp/bench" 2>"$tmp/err"
    rss=$(sed -n 's/^peak RSS: \([0-9]*\).*/\1/p' "$tmp/bench")
    [ -n "$rss" ] && [ "$rss" -lt 32 ]
    check "auto without a GPU loads no driver (peak RSS ${rss:-?} MiB < 32)" $?
  fi
  grep -qE 'fp16 (yes|no), int8-dot (yes|no), subgroup-arith (yes|no), coopmat (yes|no)' "$tmp/dev"
  check "devices shows the features" $?
fi
"${NO_ICD[@]}" "$HARK" devices >"$tmp/dev2" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/dev2")" -eq 1 ] && grep -q '^no Vulkan devices: ' "$tmp/dev2"
check "devices without a driver: one line, exit 0 (rc $rc)" $?

# The CPU's answers, which every fallback must reproduce exactly.
"$HARK" run -m "$STORY" -n 24 --temp 0 -p "Once upon" --backend cpu >"$tmp/cpu.txt" 2>"$tmp/err"
check "run --backend cpu" $?
"$HARK" logits -m "$F32" --tokens "$TOKENS" --out "$tmp/cpu.f32" --backend cpu 2>"$tmp/err"
check "logits --backend cpu" $?

# fallback NAME, expected text in the line, env/command...: exactly one
# fallback line, exit 0, stdout identical to the CPU's.
fallback() {
  local name=$1 want=$2; shift 2
  "$@" "$HARK" run -m "$STORY" -n 24 --temp 0 -p "Once upon" --backend vulkan >"$tmp/out.txt" 2>"$tmp/err"
  local rc=$?
  [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qE "$fallback_re" "$tmp/err" &&
    grep -qF -- "$want" "$tmp/err" && cmp -s "$tmp/out.txt" "$tmp/cpu.txt"
  check "fallback: $name (rc $rc)" $?
}
fallback "no Vulkan driver" "vulkan: " "${NO_ICD[@]}"
[ "$n_dev" -gt 0 ] && fallback "no such device" "no device 99" env HARK_DEVICE=99

# HARK_VK_MEMORY_LIMIT=1 (MiB) is less than the F32 model's weights.
HARK_VK_MEMORY_LIMIT=1 "$HARK" logits -m "$F32" --tokens "$TOKENS" --out "$tmp/lim.f32" --backend vulkan 2>"$tmp/err"
rc=$?
if [ "$n_dev" -gt 0 ]; then
  [ $rc -eq 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qE "$fallback_re" "$tmp/err" &&
    grep -q 'out of device memory' "$tmp/err" && cmp -s "$tmp/lim.f32" "$tmp/cpu.f32"
  check "fallback: HARK_VK_MEMORY_LIMIT=1, logits identical to the CPU's (rc $rc)" $?
fi

# Bad backend names: a clear error for the option, a warning for the variable.
"$HARK" run -m "$STORY" -n 2 --backend bogus >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^hark: run: --backend expects auto, cpu or vulkan, got 'bogus'" "$tmp/err"
check "--backend bogus is an error (rc $rc)" $?
"$HARK" logits -m "$F32" --tokens "$TOKENS" --out "$tmp/x.f32" --device -1 2>"$tmp/err"; rc=$?
[ $rc -ne 0 ] && grep -q -- "--device" "$tmp/err"; check "--device -1 is an error (rc $rc)" $?
HARK_BACKEND=bogus "$HARK" run -m "$STORY" -n 24 --temp 0 -p "Once upon" >"$tmp/out.txt" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^hark: HARK_BACKEND=bogus is not auto, cpu or vulkan; ignored$' "$tmp/err" &&
  cmp -s "$tmp/out.txt" "$tmp/cpu.txt"
check "HARK_BACKEND=bogus: one warning, then as auto (rc $rc)" $?
for cmd in run chat logits bench; do
  "$HARK" $cmd --help | grep -q -- '--backend' && "$HARK" $cmd --help | grep -q -- '--device'
  check "$cmd --help shows --backend and --device" $?
done

if [ "$n_dev" -eq 0 ]; then
  echo "$checks checks, $fails failed"
  [ "$fails" -eq 0 ] || exit 1
  echo "skipped: no Vulkan device on this machine (the checks above need none)"
  exit 77
fi

# 2. On the device (lavapipe on CI) under the validation layer: no
#    validation messages, no fallback, the CPU's numbers.
validated() { # stderr file: empty, or only layer-absent warning
  ! grep -q 'hark: vulkan validation' "$1" && ! grep -q 'running on the CPU' "$1"
}
HARK_VK_VALIDATE=1 "$HARK" logits -m "$F32" --tokens "$TOKENS" --out "$tmp/vk.f32" --backend vulkan 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && validated "$tmp/err"; check "logits --backend vulkan, validated, on the device (rc $rc)" $?
python3 - "$tmp/vk.f32" "$tmp/cpu.f32" <<'PY'
import struct, sys
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
if len(a) != len(b) or not a: sys.exit(1)
x = struct.unpack('%df' % (len(a) // 4), a); y = struct.unpack('%df' % (len(b) // 4), b)
scale = max(abs(v) for v in y)
err = max(abs(p - q) for p, q in zip(x, y))
print('     max |vulkan - cpu| = %.3g (logits up to %.3g)' % (err, scale))
sys.exit(0 if err <= 1e-4 * max(scale, 1.0) else 1)
PY
check "logits --backend vulkan = the CPU's (exact mode, F32)" $?
HARK_VK_VALIDATE=1 "$HARK" run -m "$STORY" -n 24 --temp 0 -p "Once upon" --backend vulkan >"$tmp/vk.txt" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && validated "$tmp/err" && [ -s "$tmp/vk.txt" ]; check "run --backend vulkan, validated (rc $rc)" $?
HARK_VK_VALIDATE=1 "$HARK" run -m "$STORY" -n 40 -c 32 --ctx-shift --temp 0 -p "Once upon" --backend vulkan \
  >"$tmp/vk.txt" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && validated "$tmp/err"; check "run --backend vulkan with context shifts, validated (rc $rc)" $?

# 3. A device lost mid-decode (the test hook fails submissions after the
#    first few): one line, and the CPU carries on from the same history.
HARK_VK_LOSE_AFTER=6 "$HARK" run -m "$STORY" -n 24 --temp 0 -p "Once upon" --backend vulkan >"$tmp/out.txt" 2>"$tmp/err"
rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qE "$fallback_re" "$tmp/err" &&
  grep -q 'device lost' "$tmp/err" && cmp -s "$tmp/out.txt" "$tmp/cpu.txt"
check "device lost mid-decode: one line, the CPU's text (rc $rc)" $?

# 4. bench reports where it ran.
"$HARK" bench -m "$STORY" -p 8 -n 4 -r 1 --backend vulkan --json >"$tmp/b.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert rows and all(r["backend"] == "vulkan" for r in rows), rows
assert all(r["bandwidth_gbs"] > 0 and r["roofline_pct"] > 0 for r in rows if r["test"].startswith("tg")), rows
' "$tmp/b.json"
check "bench --backend vulkan: backend column says vulkan (rc $rc)" $?
"${NO_ICD[@]}" "$HARK" bench -m "$STORY" -p 8 -n 0 -r 1 --backend vulkan --json >"$tmp/b.json" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && grep -q '"backend": "cpu"' "$tmp/b.json"
check "bench --backend vulkan without a driver: backend cpu (rc $rc)" $?

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
