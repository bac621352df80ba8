#!/usr/bin/env bash
# Models inside tar, tar.gz, tar.zst, tar.xz and zip: --list, --member, picking the only
# model by content, byte-identical round trips from files and pipes.
source "$(dirname "$0")/../lib.sh"
m=$(gguf_fixtures | head -1)
mkdir -p "$T/d/sub"
cp "$m" "$T/d/m.gguf"
echo "read me" > "$T/d/README"
cp "$m" "$T/d/sub/copy.bin"  # a second model, with a name that does not say so
(cd "$T/d" && tar -cf "$T/one.tar" README m.gguf && tar -cf "$T/two.tar" README m.gguf sub/copy.bin)
gzip -c "$T/one.tar" > "$T/one.tar.gz"
zstd -q -c "$T/one.tar" > "$T/one.tar.zst"
xz -c "$T/one.tar" > "$T/one.tar.xz"
(cd "$T/d" && zip -q "$T/one.zip" README m.gguf && zip -q "$T/two.zip" README m.gguf sub/copy.bin)
size=$(stat -c %s "$m")
for a in one.tar one.tar.gz one.tar.zst one.tar.xz one.zip; do
  f="$T/$a"
  mln-parse --member m.gguf "$f" | mln-emit | cmp - "$m" || fail "$a: --member round trip differs"
  mln-parse "$f" | mln-emit | cmp - "$m" || fail "$a: the only model was not picked"
  mln-parse --member m.gguf < "$f" | mln-emit | cmp - "$m" || fail "$a: pipe round trip differs"
  mln-parse --list "$f" > "$T/list"
  printf 'README\t8\t-\nm.gguf\t%s\tgguf\n' "$size" | cmp - "$T/list" || fail "$a: --list gives $(cat "$T/list")"
  mln-inspect "$f" > "$T/table"
  grep -q "gguf model" "$T/table" || fail "$a: mln-inspect does not read the member"
done
# Several models: the choice is the user's, and the error lists them.
for a in two.tar two.zip; do
  expect_exit 64 mln-parse "$T/$a" -o "$T/o.mlns"
  expect_err "several models.*m.gguf \(gguf\).*sub/copy.bin \(gguf\).*--member"
  [ ! -e "$T/o.mlns" ] || fail "$a: output left behind"
  STDIN="$T/$a" expect_exit 64 mln-parse -o "$T/o.mlns"
  expect_err "several models"
  [ ! -e "$T/o.mlns" ] || fail "$a (pipe): output left behind"
  mln-parse --member sub/copy.bin "$T/$a" | mln-emit | cmp - "$m" || fail "$a: sub/copy.bin differs"
done
expect_exit 66 mln-parse --member nope.gguf "$T/one.tar"
expect_err "no member 'nope.gguf' in the archive \(members: README, m.gguf\)"

# libarchive is loaded only for an input that may be an archive: a model file never loads it.
LD_DEBUG=files mln-parse "$m" 2> "$T/ld" | mln-emit | cmp - "$m" || fail "model round trip differs"
! grep -q "libarchive" "$T/ld" || fail "libarchive was loaded to parse a GGUF file"
# Nor a model read with --format: only a forced parse that fails bids on its content (to say
# what it looks like), and an ONNX file's weak bid would let the archive bidder run.
/usr/bin/python3 "$(dirname "$0")/../../conformance/onnx_make_fixtures.py" "$T/onnx"
o=$(find "$T/onnx" -name model.onnx | head -1)
LD_DEBUG=files mln-parse --format onnx "$o" 2> "$T/ld" >/dev/null || fail "--format onnx failed on $o"
! grep -q "libarchive" "$T/ld" || fail "libarchive was loaded to parse an ONNX file with --format"
LD_DEBUG=files mln-parse "$T/one.tar" 2> "$T/ld" | mln-emit | cmp - "$m" || fail "tar round trip differs"
grep -q "libarchive" "$T/ld" || fail "libarchive was not loaded for a tar archive"
