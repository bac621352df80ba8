#!/usr/bin/env bash
# mln-apply under load: 8 processes apply one patch to one base at the same time, two at a
# time into the same directory, and 1000 small patches are applied one after another. Every
# apply exits 0, every output is byte-identical to the model the patch was made from, and no
# temporary ".NAME.mln-XXXXXX" file is left in any output directory. Leaks: the sanitizer
# build's LeakSanitizer watches every apply here; otherwise, when valgrind is installed, three
# applies run under its leak checker and a definite leak fails the test.
. "$(dirname "$0")/common.bash"
start=$SECONDS

# small_models DIR: a few-KB GGUF base and four variants of it (values nudged, a tensor's
# bytes changed in a few places, a tensor added and one dropped, metadata edited), so the
# patches between them use most ops and are each applied in a few milliseconds.
small_models() {
  /usr/bin/python3 - "$1" <<'PY'
import struct, sys
d = sys.argv[1]
def s(x): b = x.encode(); return struct.pack("<Q", len(b)) + b
def gguf(path, meta, tensors):
    h = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 1) + s("general.name") + struct.pack("<I", 8) + s(meta)
    data = b""
    for name, typ, blob in tensors:
        data += b"\0" * (-len(data) % 32)
        width = 4 if typ == 0 else 1
        h += s(name) + struct.pack("<IQIQ", 1, len(blob) // width, typ, len(data))
        data += blob
    h += b"\0" * (-len(h) % 32)
    open(path, "wb").write(h + data)
w = struct.pack("<512f", *[(i % 23) * 0.125 - 1 for i in range(512)])
q = bytes((i * 11) & 0xff for i in range(1024))
meta = "load test base " * 8
gguf(f"{d}/base.gguf", meta, [("w", 0, w), ("q", 24, q)])
nudged = bytearray(w)
for i in range(0, len(nudged), 4): nudged[i] ^= 3
gguf(f"{d}/v1.gguf", meta, [("w", 0, bytes(nudged)), ("q", 24, q)])
few = bytearray(q); few[10] ^= 0x40; few[700] = 0
gguf(f"{d}/v2.gguf", meta, [("w", 0, w), ("q", 24, bytes(few))])
gguf(f"{d}/v3.gguf", meta, [("w", 0, w), ("extra", 0, struct.pack("<8f", *range(8)))])
gguf(f"{d}/v4.gguf", meta.replace("base", "next"), [("w", 0, w), ("q", 24, q)])
PY
}

# --- 8 concurrent applies of one patch to one 8 MiB base.
gen_model "$T/big.gguf" 8 8
# The new version: bytes changed every 4 KiB through the second half (tensor data there).
/usr/bin/python3 - "$T/big.gguf" "$T/big2.gguf" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
for p in range(len(b) // 2, len(b), 4096):
    b[p] ^= 0x5a
open(sys.argv[2], "wb").write(b)
PY
cmp -s "$T/big.gguf" "$T/big2.gguf" && fail "the new big model is the base"
mln-diff "$T/big.gguf" "$T/big2.gguf" >"$T/big.mlnp"
for d in 1 2 3 4; do mkdir -p "$T/par$d"; done
pids=()
for i in 1 2 3 4 5 6 7 8; do
  mln-apply "$T/big.gguf" "$T/big.mlnp" -o "$T/par$(((i + 1) / 2))/out$i.gguf" 2>"$T/par.err$i" &
  pids+=($!)
done
for i in 1 2 3 4 5 6 7 8; do
  rc=0
  wait "${pids[$((i - 1))]}" || rc=$?
  [ "$rc" -eq 0 ] || fail "concurrent mln-apply $i exited $rc: $(cat "$T/par.err$i")"
done
for i in 1 2 3 4 5 6 7 8; do
  cmp -s "$T/par$(((i + 1) / 2))/out$i.gguf" "$T/big2.gguf" ||
    fail "concurrent mln-apply $i wrote a different model"
done
for d in 1 2 3 4; do no_temp_files "$T/par$d"; done
par_secs=$((SECONDS - start))

# --- 1000 small patches, one after another, each into its own output file.
mkdir -p "$T/small" "$T/seq"
small_models "$T/small"
patches=()
for v in 1 2 3 4; do
  mln-diff "$T/small/base.gguf" "$T/small/v$v.gguf" >"$T/small/p$v.mlnp"
  patches+=("$T/small/p$v.mlnp")
done
# One more, its payloads compressed, for v1: another path through the applier.
mln-diff -l 3 "$T/small/base.gguf" "$T/small/v1.gguf" >"$T/small/p5.mlnp"
patches+=("$T/small/p5.mlnp")
want=(v1 v2 v3 v4 v1)
for v in 1 2 3 4; do
  cmp -s "$T/small/base.gguf" "$T/small/v$v.gguf" && fail "variant v$v is the base"
done
# 1000 take ~30-50 ms each here; under AddressSanitizer each costs ~10x, and LeakSanitizer
# sees the same code paths after 200, so the sanitizer build runs 200 (ctest's limit is 300 s).
N=${MLN_LOAD_APPLIES:-1000}
if [ -z "${MLN_LOAD_APPLIES:-}" ] && sanitized; then
  N=200
  echo "load: sanitizer build: $N sequential applies instead of 1000"
fi
for ((i = 0; i < N; i++)); do
  k=$((i % 5))
  rc=0
  mln-apply "$T/small/base.gguf" "${patches[$k]}" -o "$T/seq/$i.${want[$k]}.gguf" \
    2>"$T/seq.err" || rc=$?
  [ "$rc" -eq 0 ] || fail "apply $i of ${patches[$k]##*/} exited $rc: $(cat "$T/seq.err")"
done
# Every output against the variant its patch makes, in one pass over the directory.
for v in 1 2 3 4; do
  sum=$(sha256sum <"$T/small/v$v.gguf" | cut -d' ' -f1)
  bad=$(cd "$T/seq" && sha256sum -- *."v$v".gguf | awk -v s="$sum" '$1 != s {print $2}' | head -3)
  [ -z "$bad" ] || fail "applies made a wrong v$v: $bad"
done
made=$(find "$T/seq" -maxdepth 1 -name '*.gguf' | wc -l)
[ "$made" -eq "$N" ] || fail "$N applies left $made output files"
no_temp_files "$T/seq"
seq_secs=$((SECONDS - start - par_secs))

# --- Leaks under valgrind (the sanitizer build has LeakSanitizer on every apply above).
if sanitized; then
  echo "load: valgrind part skipped: the filters are built with AddressSanitizer"
elif ! command -v valgrind >/dev/null; then
  echo "load: valgrind part skipped: valgrind is not installed"
elif ! valgrind -q mln-apply --version >"$T/vg.out" 2>"$T/vg.err"; then
  # Where valgrind cannot run the binary at all (e.g. a CPU without RDTSCP: libhwy's
  # initializer uses it and valgrind 3.19 then stops on SIGILL), nothing about leaks is known.
  echo "load: valgrind part skipped: valgrind cannot run mln-apply here:" \
       "$(grep -m1 -E 'Illegal|signal|error' "$T/vg.err" || head -1 "$T/vg.err")"
else
  for v in 1 2 3; do
    rc=0
    valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
      mln-apply "$T/small/base.gguf" "$T/small/p$v.mlnp" -o "$T/seq/vg$v.gguf" \
      >"$T/vg.out" 2>"$T/vg.err" || rc=$?
    [ "$rc" -ne 99 ] ||
      fail "valgrind: mln-apply leaks or misuses memory: $(head -c 600 "$T/vg.err")"
    [ "$rc" -eq 0 ] || fail "mln-apply under valgrind exited $rc: $(tail -5 "$T/vg.err")"
    cmp -s "$T/seq/vg$v.gguf" "$T/small/v$v.gguf" || fail "mln-apply under valgrind: wrong v$v"
  done
  no_temp_files "$T/seq"
  echo "load: 3 applies under valgrind: no definite leak"
fi
echo "load: 8 concurrent applies in ${par_secs}s, $N sequential applies in ${seq_secs}s," \
     "total $((SECONDS - start))s"
