#!/usr/bin/env bash
# hark mkmodel and hark bench end to end: a small generated model, the
# table, the JSON lines and their fields, and one-line errors.  Speed is
# never checked (DESIGN.md: measure with hark bench, never with timed tests).
set -u
HARK=${HK_HARK:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0
check() { # name, condition result (0 = pass)
  checks=$((checks + 1))
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}

# 1. mkmodel writes a model hark can run; the smallest real shape, one layer.
"$HARK" mkmodel --shape smollm2-360m --type Q4_0 --layers 1 -o "$tmp/m.gguf" 2>"$tmp/err"
check "mkmodel smollm2-360m Q4_0 --layers 1" $?
"$HARK" info "$tmp/m.gguf" >"$tmp/info" 2>&1 && grep -q "llama.block_count *u32 *1$" "$tmp/info" &&
  grep -q "blk.0.ffn_down.weight" "$tmp/info" && ! grep -q "blk.1\." "$tmp/info"
check "mkmodel file has one layer" $?
"$HARK" mkmodel --list >"$tmp/list" && [ "$(grep -c -E '^(qwen|llama|smollm|gemma|phi)' "$tmp/list")" -eq 9 ]
check "mkmodel --list shows the nine shapes" $?

# The bandwidth probe's default buffer (GiBs) would dominate the run time;
# a small one measures caches, which is fine for checking the format.
BW="--membw-mib 32"

# 2. bench --json: one well-formed object per test with the documented fields.
"$HARK" bench -m "$tmp/m.gguf" -p 16 -n 4 -r 2 -t 1,2 $BW --json >"$tmp/json" 2>"$tmp/err"
check "bench --json runs (rc $?)" $?
python3 - "$tmp/json" "$tmp/m.gguf" <<'PY'
import json, math, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
tests = []
for l in lines:
    o = json.loads(l)
    assert o["model"] == sys.argv[2], o["model"]
    assert o["type"] == "Q4_0", o["type"]
    assert o["backend"] == "cpu"
    assert isinstance(o["threads"], int)
    assert o["tokens_per_s"] > 0 and math.isfinite(o["tokens_per_s"])
    assert o["sd"] >= 0
    assert o["peak_rss_mib"] > 0
    if o["test"].startswith("tg"):
        assert o["bytes_per_token"] > 0
        assert o["bandwidth_gbs"] > 0 and o["roofline_pct"] > 0
        # the weights' own pages, read right after the test
        assert o["weights_bandwidth_gbs"] > 0 and o["weights_roofline_pct"] > 0
        want = 100 * o["tokens_per_s"] * o["bytes_per_token"] / (o["weights_bandwidth_gbs"] * 1e9)
        assert abs(o["weights_roofline_pct"] - want) <= 0.01 + 1e-3 * want, (o, want)
    else:
        assert "bytes_per_token" not in o and "roofline_pct" not in o and "weights_bandwidth_gbs" not in o
    tests.append((o["threads"], o["test"]))
assert tests == [(1, "pp16"), (1, "tg4"), (2, "pp16"), (2, "tg4")], tests
PY
check "bench --json lines parse, with the fields" $?

# 3. The table: a header, a pp and a tg row, bandwidth and peak RSS.
"$HARK" bench -m "$tmp/m.gguf" -p 8 -n 2 -r 1 -t 2 $BW >"$tmp/table" 2>"$tmp/err"
check "bench table runs" $?
grep -q "^| model" "$tmp/table" && grep -q "| *pp8 |" "$tmp/table" && grep -q "| *tg2 |" "$tmp/table" &&
  grep -q "read bandwidth (2 threads):" "$tmp/table" && grep -q "peak RSS:" "$tmp/table"
check "bench table has header, pp8 and tg2 rows, footer" $?
grep -E -q "^read bandwidth of the weights' own pages \(m\.gguf, 2 threads\): [0-9.]+ GB/s, tg2 at [0-9.]+% of it$" "$tmp/table"
check "bench footer: the weights' own pages" $?
# how much of the model was in huge pages: a percentage of what was in memory
grep -E -q "^weights in huge pages \(m\.gguf\): [0-9]+% of the [0-9.]+ MiB in memory$" "$tmp/table"
check "bench footer: weights in huge pages" $?
# which CPU kernels ran: the level, and the batch tiles (AMX or VNNI) when the engine uses them
grep -E -q "^CPU kernels: (scalar|avx2|avx512|neon)(, (AMX|VNNI) tiles .*)?$" "$tmp/table"
check "bench footer: CPU kernels" $?
HARK_AMX=0 "$HARK" bench -m "$tmp/m.gguf" -p 8 -n 0 -r 1 -t 1 >"$tmp/noamx" 2>"$tmp/err" &&
  grep -q "^CPU kernels: " "$tmp/noamx" && ! grep -q "AMX" "$tmp/noamx"
check "bench: HARK_AMX=0 turns AMX off" $?
# --cold drops the file from the page cache first and runs the same
"$HARK" bench -m "$tmp/m.gguf" -p 0 -n 2 -r 1 -t 1 $BW --cold >"$tmp/cold" 2>"$tmp/err" &&
  grep -q "| *tg2 |" "$tmp/cold" && grep -q "^weights in huge pages (m.gguf)" "$tmp/cold"
check "bench --cold" $?
# -p 0: generation only
"$HARK" bench -m "$tmp/m.gguf" -p 0 -n 2 -r 1 $BW --json >"$tmp/j2" 2>&1 && [ "$(wc -l <"$tmp/j2")" -eq 1 ] &&
  grep -q '"test": "tg2"' "$tmp/j2"
check "bench -p 0 runs generation only" $?

"$HARK" bench --help | grep -q "^usage: hark bench" && "$HARK" mkmodel --help | grep -q "^usage: hark mkmodel"
check "bench and mkmodel --help" $?

# 4. Bad input: one line on stderr starting "hark:", non-zero exit, no crash.
bad() { # name, expected substring, command...
  local name=$1 want=$2; shift 2
  "$@" >/dev/null 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && grep -q "^hark: " "$tmp/err" && grep -qF -- "$want" "$tmp/err"
  check "$name" $?
}
bad "bench missing model" "$tmp/none.gguf" "$HARK" bench -m "$tmp/none.gguf" -p 8 -n 0
bad "bench no model" "-m" "$HARK" bench -p 8
bad "bench bad -p" "-p" "$HARK" bench -m "$tmp/m.gguf" -p 12x
bad "bench bad -t" "-t" "$HARK" bench -m "$tmp/m.gguf" -t 0
bad "bench bad -r" "-r" "$HARK" bench -m "$tmp/m.gguf" -r -1
bad "bench unknown backend" "bogus" "$HARK" bench -m "$tmp/m.gguf" --backend bogus
bad "bench nothing to do" "nothing to measure" "$HARK" bench -m "$tmp/m.gguf" -p 0 -n 0
bad "bench not a model" "$tmp/info" "$HARK" bench -m "$tmp/info" -p 8 -n 0
bad "mkmodel unknown shape" "llama-70b" "$HARK" mkmodel --shape llama-70b --type Q4_0 -o "$tmp/x.gguf"
bad "mkmodel unknown type" "Q7_7" "$HARK" mkmodel --shape smollm2-360m --type Q7_7 -o "$tmp/x.gguf"
bad "mkmodel bad --layers" "--layers" "$HARK" mkmodel --shape smollm2-360m --type Q4_0 --layers 0 -o "$tmp/x.gguf"
bad "mkmodel missing -o" "-o" "$HARK" mkmodel --shape smollm2-360m --type Q4_0
[ ! -e "$tmp/x.gguf" ]; check "failed mkmodel leaves no file" $?

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
