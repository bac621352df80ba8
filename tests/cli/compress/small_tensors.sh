#!/usr/bin/env bash
# Models of many small tensors (MediaPipe's TFLite files, npm fixtures): mln-compress packs
# runs of small frames into bundles, so the compressed stream is smaller than the model
# file and than zstd -3 of it (without bundles, the short-range face detector came out at
# 101.7% of its size), and every consumer still reads it back byte for byte.
. "$(dirname "$0")/../lib.sh"
mapfile -t models < <(small_tflite_fixtures)
[ "${#models[@]}" = 2 ] || fail "expected 2 small TFLite fixtures, found ${#models[@]}"
for m in "${models[@]}"; do
  [ -f "$m" ] || fail "missing fixture $m"
  mln-compress "$m" -o "$T/m.mlnz"
  size=$(stat -c %s "$m"); z=$(stat -c %s "$T/m.mlnz"); peer=$(zstd -3 -c < "$m" | wc -c)
  [ "$z" -lt "$peer" ] || fail "$(basename "$m"): mln-compress $z bytes, zstd -3 $peer, file $size"
  # Every consumer sees the frames inside the bundles.
  mln-emit "$T/m.mlnz" | cmp - "$m" || fail "emit of the compressed $(basename "$m") differs"
  mln-compress -d "$T/m.mlnz" -o "$T/back"
  cmp "$T/back" "$m" || fail "-d did not restore $(basename "$m")"
  mln-verify --check "$T/m.mlnz" || fail "mln-verify refused the compressed $(basename "$m")"
  plain=$(mln-parse "$m" | mln-inspect --json - | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tensors"]))')
  packed=$(mln-inspect --json "$T/m.mlnz" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tensors"]))')
  [ "$plain" = "$packed" ] || fail "inspect lists $packed tensors in the compressed stream, $plain in the plain one"
done
# Signing passes bundles on as stored: a second signer (co-signing) sees the same content,
# and the signed stream stays the size of the compressed one.
openssl genpkey -algorithm ed25519 -out "$T/k1.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$T/k2.pem" 2>/dev/null
openssl pkey -in "$T/k1.pem" -pubout -out "$T/p1.pem"
openssl pkey -in "$T/k2.pem" -pubout -out "$T/p2.pem"
mln-verify --sign "$T/k1.pem" --name m --version 1 <"$T/m.mlnz" >"$T/s1"
mln-verify --sign "$T/k2.pem" --name m --version 1 <"$T/s1" >"$T/s2" || fail "co-signing a bundled stream failed"
[ "$(stat -c %s "$T/s2")" -lt $(( $(stat -c %s "$T/m.mlnz") + 4096 )) ] ||
  fail "signing grew the bundled stream from $(stat -c %s "$T/m.mlnz") to $(stat -c %s "$T/s2") bytes"
mln-verify --pubkey "$T/p1.pem" --pubkey "$T/p2.pem" --threshold 2 <"$T/s2" >/dev/null ||
  fail "two signatures over a bundled stream do not verify"
mln-emit "$T/s2" | cmp - "${models[1]}" || fail "emit of the signed bundled stream differs"
# A damaged bundle is refused with the bundle's frame named, and -o leaves nothing.
mln-compress "${models[0]}" -o "$T/d.mlnz"
size=$(stat -c %s "$T/d.mlnz")
cp "$T/d.mlnz" "$T/bad"
damage "$T/bad" $((size / 3))
expect_exit 65 mln-compress -d "$T/bad" -o "$T/restored"; expect_err "frame [0-9]+"
[ ! -e "$T/restored" ] || fail "failed -d left output behind"
# Every reader names the same frame for the same damage, by its place in the stream as
# mln-inspect counts frames (a bundle's for the frames inside it): readers that open bundles
# in parallel stages once counted the frames inside them.
# The hand landmark model: bundles between large frames, damaged past a bundle.
mln-compress "${models[1]}" -o "$T/h.mlnz"
frames=$(mln-inspect --json "$T/h.mlnz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["frames"])')
damage "$T/h.mlnz" $(( $(stat -c %s "$T/h.mlnz") / 2 ))
named=""
for cmd in "mln-inspect" "mln-emit" "mln-verify --check" "mln-compress -t"; do
  expect_exit 65 $cmd "$T/h.mlnz"
  n=$(grep -oE "frame [0-9]+" <<<"$ERR" | head -1)
  [ -n "$n" ] || fail "$cmd names no frame: $ERR"
  [ "${n#frame }" -lt "$frames" ] || fail "$cmd names $n of a stream of $frames frames"
  [ -z "$named" ] || [ "$n" = "$named" ] || fail "$cmd names $n, an earlier reader $named"
  named=$n
done
echo ok
