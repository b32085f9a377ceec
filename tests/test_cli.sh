#!/usr/bin/env bash
# End-to-end checks of the hark binary: golden text, tokenizer ids, logits
# file, info, and one-line errors on bad input.  Prints "ok"/"FAIL" per check.
set -u
HARK=${HK_HARK:?}
SHARED=${HARK_SHARED:-$HK_SOURCE_ROOT/../shared}
FX=$SHARED/fixtures/llm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 checks=0
check() { # name, condition result (0 = pass)
  checks=$((checks + 1))
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
strip() { python3 -c 'import sys; sys.stdout.write(open(sys.argv[1],encoding="utf-8",errors="surrogateescape").read().strip())' "$1"; }

# 1. The real stories260K model reproduces llama.cpp's greedy story byte for byte.
"$HARK" run -m "$FX/models/stories260K.gguf" -n 200 --temp 0 >"$tmp/story.txt" 2>"$tmp/err"
rc=$?
strip "$tmp/story.txt" >"$tmp/a"; strip "$FX/goldens/stories260K.bos.greedy.text.txt" >"$tmp/b"
cmp -s "$tmp/a" "$tmp/b"; check "run stories260K greedy text = golden (rc $rc)" $?

# 2. tokenize --ids matches llama.cpp's ids for the prompt (with BOS via --add-special).
want="1 403 407 261 378 432 383 286 261 376 298 315 421 395 317 426"
got=$("$HARK" tokenize -m "$FX/models/stories260K.gguf" --add-special --ids "Once upon a time, there was a little girl named Lily.")
[ "$got" = "$want" ]; check "tokenize --ids --add-special" $?
# --file tokenizes the bytes exactly (no newline added): same ids as the argument.
printf 'Once upon a time, there was a little girl named Lily.' >"$tmp/p.txt"
got2=$("$HARK" tokenize -m "$FX/models/stories260K.gguf" --add-special --ids --file "$tmp/p.txt")
[ "$got2" = "$want" ]; check "tokenize --file" $?
# Works on a vocab-only file.
"$HARK" tokenize -m "$FX/tokenizer/ggml-vocab-gpt-2.gguf" --ids "Hello world" >"$tmp/ids" 2>&1
[ "$(cat "$tmp/ids")" = "15496 995" ]; check "tokenize vocab-only gpt-2" $?

# 3. logits: exact interface, compared with the F32-cache golden.
"$HARK" logits -m "$FX/models/llama-tied-F32.gguf" --tokens "$FX/goldens/llama-tied-F32.tokens.txt" --out "$tmp/l.f32"
python3 - "$tmp/l.f32" "$FX/goldens/llama-tied-F32.kvf32.logits.f32" <<'PY'
import struct, sys, math
a = open(sys.argv[1], 'rb').read(); b = open(sys.argv[2], 'rb').read()
if len(a) != len(b): sys.exit(1)
n = len(a) // 4
x = struct.unpack('<%df' % n, a); y = struct.unpack('<%df' % n, b)
d = math.sqrt(sum((p - q) ** 2 for p, q in zip(x, y)) / n)
r = math.sqrt(sum(q * q for q in y) / n)
# 0.3% of the logits' rms: ten times below the smallest real mistake (fixture README §6).
sys.exit(0 if d <= 0.003 * r else 1)
PY
check "logits file matches llama-tied-F32.kvf32 golden" $?

# 4. info prints the metadata and the tensor table.
"$HARK" info "$FX/models/qwen2-Q8_0.gguf" >"$tmp/info" 2>&1
grep -q "qwen2.attention.head_count" "$tmp/info" && grep -q "blk.1.attn_q.bias" "$tmp/info"
check "info shows keys and tensors" $?

# 5. Bad input: one line on stderr naming the file, non-zero exit, no crash.
bad() { # name, expected substring, command...
  local name=$1 want=$2; shift 2
  "$@" >/dev/null 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && grep -qF -- "$want" "$tmp/err"
  check "$name: $(head -c 150 "$tmp/err")" $?
}
bad "missing model" "$tmp/nope.gguf" "$HARK" run -m "$tmp/nope.gguf" -p hi
head -c 5000 "$FX/models/stories260K.gguf" >"$tmp/trunc.gguf"
bad "truncated model" "trunc.gguf" "$HARK" run -m "$tmp/trunc.gguf" -p hi
head -c 1100000 "$FX/models/stories260K.gguf" >"$tmp/trunc2.gguf"
bad "truncated tensor data" "past end of file" "$HARK" info "$tmp/trunc2.gguf"
printf 'RIFF....WAVEfmt ' >"$tmp/notgguf.gguf"
bad "wrong file type" "not a GGUF file" "$HARK" info "$tmp/notgguf.gguf"
bad "vocab-only file cannot run" "ggml-vocab-gpt-2.gguf" "$HARK" run -m "$FX/tokenizer/ggml-vocab-gpt-2.gguf" -p hi
bad "bad option value" "--temp" "$HARK" run -m "$FX/models/stories260K.gguf" --temp abc
echo 99999 >"$tmp/badids.txt"
bad "token id out of range" "outside the vocabulary" "$HARK" logits -m "$FX/models/stories260K.gguf" --tokens "$tmp/badids.txt" --out "$tmp/x.f32"
bad "context full" "context" "$HARK" run -m "$FX/models/stories260K.gguf" -c 8 -p "Once upon a time, there was a little girl named Lily."

# 6. --help on every subcommand.
for c in run chat info tokenize logits quantize; do
  "$HARK" $c --help >"$tmp/h" 2>&1 && grep -q "usage: hark $c" "$tmp/h"; check "$c --help" $?
done

echo "cli: $checks checks, $fails failed"
[ $fails -eq 0 ]
