#!/usr/bin/env bash
# mln-compress: lossless, smaller on float weights, transparent to consumers, zstd habits.
source "$(dirname "$0")/../lib.sh"
for f in $(gguf_fixtures); do
  mln-parse "$f" -o "$T/s"
  mln-compress < "$T/s" > "$T/z"
  # Consumers read compressed streams as they are.
  mln-emit "$T/z" | cmp - "$f" || fail "emit of the compressed stream of $f differs"
  mln-compress -d < "$T/z" | cmp - "$T/s" || fail "-d did not restore the stream of $f"
  mln-compress -T 1 < "$T/s" | cmp - "$T/z" || fail "-T 1 and -T 2 differ on $f"
  for codec in raw zstd byteplane fields palette; do
    mln-compress --codec $codec < "$T/s" | mln-emit | cmp - "$f" || fail "--codec $codec on $f"
  done
done
# On real f16 weights the byte-plane codec beats plain zstd on the same frames.
f=$(gguf_fixtures | grep real_f16)
mln-parse "$f" | mln-compress > "$T/auto"
mln-parse "$f" | mln-compress --codec zstd > "$T/zstd"
[ "$(stat -c %s "$T/auto")" -lt "$(stat -c %s "$T/zstd")" ] || fail "byteplane not smaller than zstd on $f"
mln-inspect --json "$T/auto" > "$T/j"
grep -q '"byteplane"' "$T/j" || fail "inspect does not report the byteplane codec"
# Those byte-plane kernels are dispatched to SIMD without libhwy.so on x86-64
# (libstream/kernels/cpu_targets.cc): its load-time timer calibration cost every process
# ~4.5 ms of start-up.
if [ "$(uname -m)" = x86_64 ]; then
  mln-parse "$f" > "$T/s16"
  LD_DEBUG=files mln-compress < "$T/s16" 2> "$T/ld" | cmp - "$T/auto" || fail "compress differs"
  grep -q "libzstd" "$T/ld" || fail "LD_DEBUG=files shows no libraries: the check below is void"
  ! grep -q "libhwy" "$T/ld" || fail "mln-compress loaded libhwy"
fi
# zstd habits: FILE -> FILE.mlnz, -d FILE.mlnz -> FILE (the model), no silent overwrite.
cp "$f" "$T/m.gguf"
expect_exit 0 mln-compress -v "$T/m.gguf"
[ -f "$T/m.gguf.mlnz" ] || fail "no m.gguf.mlnz"
# -v sums up on stderr: the model's bytes in, the stream's bytes out.
expect_err "^mln-compress: .*m.gguf: $(stat -c %s "$T/m.gguf") -> $(stat -c %s "$T/m.gguf.mlnz") bytes"
expect_exit 73 mln-compress "$T/m.gguf"; expect_err "already exists"
rm "$T/m.gguf"
expect_exit 0 mln-compress -d "$T/m.gguf.mlnz"
cmp "$T/m.gguf" "$f" || fail "-d FILE.mlnz did not restore the model"
expect_exit 64 mln-compress -d "$T/z"; expect_err "unknown suffix"
# -c, as zstd -c: stdout instead of FILE.mlnz or the model, the same bytes, existing files
# left alone; not with -o.
mkdir "$T/c"
cp "$f" "$T/c/m.gguf"
expect_exit 0 mln-compress -c "$T/c/m.gguf"
mv "$T/out" "$T/c.out"
[ "$(ls "$T/c")" = m.gguf ] || fail "-c created a file: $(ls "$T/c")"
expect_exit 0 mln-compress "$T/c/m.gguf"
cmp "$T/c.out" "$T/c/m.gguf.mlnz" || fail "-c wrote other bytes than FILE.mlnz holds"
expect_exit 0 mln-compress -dc "$T/c/m.gguf.mlnz"
cmp "$T/out" "$f" || fail "-dc FILE.mlnz did not print the model"
cmp "$T/c/m.gguf" "$f" || fail "-dc touched the existing model file"
expect_exit 64 mln-compress -c "$T/c/m.gguf" -o "$T/x"
grep -q "^mln-compress: --stdout excludes --output" <<<"$ERR" || fail "-c -o: $ERR"
# Several inputs, as zstd takes them: each to its own file; one that fails is reported and
# the others still go, the status being the failure's.
mkdir "$T/many"
cp "$f" "$T/many/a.gguf"
cp "$f" "$T/many/b.gguf"
expect_exit 66 mln-compress "$T/many/a.gguf" "$T/many/missing.gguf" "$T/many/b.gguf"
expect_err "missing.gguf: cannot open"
[ "$(ls "$T/many" | tr '\n' ' ')" = "a.gguf a.gguf.mlnz b.gguf b.gguf.mlnz " ] ||
  fail "several inputs: $(ls "$T/many")"
rm "$T/many/a.gguf" "$T/many/b.gguf"
expect_exit 0 mln-compress -d "$T/many/a.gguf.mlnz" "$T/many/b.gguf.mlnz"
cmp "$T/many/a.gguf" "$f" && cmp "$T/many/b.gguf" "$f" || fail "several -d inputs not restored"
expect_exit 64 mln-compress -c "$T/many/a.gguf" "$T/many/b.gguf"
# -t checks as -d does and writes nothing; a damaged input fails with its frame named.
expect_exit 0 mln-compress -t "$T/many/a.gguf.mlnz" "$T/many/b.gguf.mlnz"
[ ! -s "$T/out" ] || fail "-t wrote to stdout"
cp "$T/many/b.gguf.mlnz" "$T/many/bad.mlnz"
damage "$T/many/bad.mlnz" $(( $(stat -c %s "$T/many/bad.mlnz") / 2 ))
expect_exit 65 mln-compress -t "$T/many/bad.mlnz"; expect_err "bad.mlnz: frame [0-9]+"
[ "$(ls "$T/many" | wc -l)" = 5 ] || fail "-t created files: $(ls "$T/many")"
expect_exit 64 mln-compress -t "$T/many/a.gguf.mlnz" -o "$T/x"
# --rm removes each input once its output is in place, and only then. Each output keeps its
# input's permission bits and times, as zstd's do: a private model stays private.
mkdir "$T/rm"
cp "$f" "$T/rm/m.gguf"
chmod 600 "$T/rm/m.gguf"
touch -d "2024-01-02 03:04:05" "$T/rm/m.gguf"
expect_exit 0 mln-compress --rm "$T/rm/m.gguf"
[ "$(ls "$T/rm")" = m.gguf.mlnz ] || fail "--rm: $(ls "$T/rm")"
[ "$(stat -c '%a %Y' "$T/rm/m.gguf.mlnz")" = "600 $(date -d "2024-01-02 03:04:05" +%s)" ] ||
  fail "FILE.mlnz did not keep the mode and time of FILE: $(stat -c '%a %y' "$T/rm/m.gguf.mlnz")"
expect_exit 0 mln-compress -d --rm "$T/rm/m.gguf.mlnz"
[ "$(ls "$T/rm")" = m.gguf ] || fail "-d --rm: $(ls "$T/rm")"
cmp "$T/rm/m.gguf" "$f" || fail "-d --rm did not restore the model"
[ "$(stat -c '%a %Y' "$T/rm/m.gguf")" = "600 $(date -d "2024-01-02 03:04:05" +%s)" ] ||
  fail "-d did not keep the mode and time: $(stat -c '%a %y' "$T/rm/m.gguf")"
chmod 644 "$T/rm/m.gguf"
cp "$T/m.gguf.mlnz" "$T/rm/m.gguf.mlnz"
expect_exit 73 mln-compress --rm "$T/rm/m.gguf"  # the output exists: nothing written
[ -f "$T/rm/m.gguf" ] || fail "--rm removed an input whose output failed"
expect_exit 64 mln-compress --rm -c "$T/rm/m.gguf"
expect_exit 64 mln-compress --rm -k "$T/rm/m.gguf"
rm "$T/rm/m.gguf.mlnz"
expect_exit 0 mln-compress -k "$T/rm/m.gguf"  # zstd's -k: the default
[ -f "$T/rm/m.gguf" ] && [ -f "$T/rm/m.gguf.mlnz" ] || fail "-k: $(ls "$T/rm")"
expect_exit 64 mln-compress "$T/many/a.gguf" - -f
expect_exit 64 mln-compress --codec lzma "$T/s" -o "$T/x"
expect_exit 64 mln-compress -l 40 "$T/s" -o "$T/x"
# What went in comes back: a stream compressed as FILE.mlns (or a patch as FILE.mlnp, or any
# stream holding no model) decompresses to that stream, byte for byte, not to the model.
mkdir "$T/streams"
mln-parse "$f" -o "$T/streams/m.mlns"
cp "$T/streams/m.mlns" "$T/streams/m.orig"
expect_exit 0 mln-compress --rm "$T/streams/m.mlns"
expect_exit 0 mln-compress -d --rm "$T/streams/m.mlns.mlnz"
cmp "$T/streams/m.mlns" "$T/streams/m.orig" || fail "-d of FILE.mlns.mlnz did not restore the stream"
mln-diff "$f" "$(gguf_fixtures | head -1)" -o "$T/streams/p.bin"
cp "$T/streams/p.bin" "$T/streams/p.orig"
expect_exit 0 mln-compress --rm "$T/streams/p.bin"
expect_exit 0 mln-compress -d "$T/streams/p.bin.mlnz"
cmp "$T/streams/p.bin" "$T/streams/p.orig" || fail "-d of a compressed patch did not restore it"
expect_exit 0 mln-compress -t "$T/streams/p.bin.mlnz"
# A damaged compressed payload is refused, naming the frame; nothing is written.
size=$(stat -c %s "$T/auto")
cp "$T/auto" "$T/bad"
damage "$T/bad" $((size / 2))
expect_exit 65 mln-compress -d "$T/bad" -o "$T/restored"; expect_err "frame [0-9]+"
[ ! -e "$T/restored" ] || fail "failed -d left output behind"
expect_exit 65 mln-emit "$T/bad" -o "$T/restored"
echo ok
