#!/usr/bin/env bash
# examples/sharded: a sharded model (3 GGUF splits as llama.cpp's gguf-split writes them,
# and 2 safetensors shards with their index) released shard by shard with GNU parallel,
# then as Slurm array tasks; every shard's stream and patch rebuild it byte for byte, every
# signature verifies with the release key only, the index still matches the shards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/models.bash"
rs=$EXAMPLES/sharded/release-shards
real_parallel=$(command -v parallel) || fail "GNU parallel is missing (scripts/bootstrap installs it)"

# Two versions of each model; v2 changes tensors of some shards only. bad/ is v2 with a
# tensor of shard 2 renamed, so the index maps a tensor that shard lacks.
/usr/bin/python3 - "$T" <<'PY'
import json, os, random, struct, sys
root = sys.argv[1]

def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

def gguf_kv(key, vtype, value):
    # ggml value types: 2 u16, 5 i32, 8 string.
    body = {2: lambda v: struct.pack("<H", v), 5: lambda v: struct.pack("<i", v),
            8: gguf_str}[vtype](value)
    return gguf_str(key) + struct.pack("<I", vtype) + body

def pad(b, a=32):
    return b + b"\0" * (-len(b) % a)

def gguf(path, kvs, tensors):
    # GGUF v3: header, KVs, tensor infos (name, dims, ne[], type, offset), data aligned to 32.
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    data = b""
    for name, ne, blob in tensors:
        head += gguf_str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
        head += struct.pack("<IQ", 0, len(data))  # type 0 = f32
        data = pad(data + blob)
    open(path, "wb").write(pad(head) + data)

def floats(n, seed):
    r = random.Random(seed)
    return struct.pack(f"<{n}f", *(r.gauss(0, 0.05) for _ in range(n)))

names = [f"blk.{i}.{w}.weight" for i in range(3) for w in ("attn_q", "ffn_down")]

def gguf_split(d, changed):
    # gguf-split: all KVs in the first split, every split gets split.no (u16, from 0),
    # split.count (u16) and split.tensors.count (i32, tensors of the whole model).
    os.makedirs(d)
    for no in range(3):
        kvs = [gguf_kv("general.architecture", 8, "llama"),
               gguf_kv("general.name", 8, "m")] if no == 0 else []
        kvs += [gguf_kv("split.no", 2, no), gguf_kv("split.count", 2, 3),
                gguf_kv("split.tensors.count", 5, len(names))]
        ts = [(n, [64, 32], floats(64 * 32, 2 * names.index(n) + (n in changed)))
              for n in names[2 * no:2 * no + 2]]
        gguf(f"{d}/m-{no + 1:05d}-of-00003.gguf", kvs, ts)

def safetensors(path, tensors):
    hdr, data = {}, b""
    for name, shape, blob in tensors:
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(hdr).encode()
    text += b" " * (-len(text) % 8)
    open(path, "wb").write(struct.pack("<Q", len(text)) + text + data)

def st_sharded(d, seed, last="c.weight"):
    os.makedirs(d)
    shards = {"model-00001-of-00002.safetensors": ["a.weight", "b.weight"],
              "model-00002-of-00002.safetensors": ["c.weight"]}
    for f, ts in shards.items():
        safetensors(f"{d}/{f}", [(last if n == "c.weight" else n, [16, 64],
                                  floats(16 * 64, seed * 10 + i)) for i, n in enumerate(ts)])
    wm = {n: f for f, ts in shards.items() for n in ts}
    json.dump({"metadata": {"total_size": 3 * 16 * 64 * 4}, "weight_map": wm},
              open(f"{d}/model.safetensors.index.json", "w"), indent=2)

gguf_split(f"{root}/gguf/v1", set())
gguf_split(f"{root}/gguf/v2", {"blk.1.ffn_down.weight", "blk.2.attn_q.weight"})
st_sharded(f"{root}/st/v1", 1)
st_sharded(f"{root}/st/v2", 2)
st_sharded(f"{root}/st/bad", 2, last="c.renamed")
PY
openssl genpkey -algorithm ed25519 -out "$T/key.pem" 2>/dev/null
openssl pkey -in "$T/key.pem" -pubout -out "$T/pub.pem"
openssl genpkey -algorithm ed25519 -out "$T/other.pem" 2>/dev/null
openssl pkey -in "$T/other.pem" -pubout -out "$T/other.pub"

# A stand-in first on PATH records each call and hands on to GNU parallel: the example
# must fan out through it, not loop.
mkdir "$T/shim"
printf '#!/bin/sh\necho "$*" >> "%s"\nexec "%s" "$@"\n' "$T/parallel.calls" "$real_parallel" \
  > "$T/shim/parallel"
chmod +x "$T/shim/parallel"
export PATH="$T/shim:$PATH"

rel=$T/rel
for m in gguf st; do
  "$rs" --key "$T/key.pem" --version 1 --level 3 -j 3 "$T/$m/v1" "$rel/$m-1" 2>"$T/log" ||
    fail "release 1 of $m: $(cat "$T/log")"
  "$rs" --key "$T/key.pem" --version 2 --level 3 -j 3 --prev "$rel/$m-1" "$T/$m/v2" "$rel/$m-2" \
    2>"$T/log" || fail "release 2 of $m: $(cat "$T/log")"
done
[ "$(wc -l <"$T/parallel.calls")" -eq 4 ] || fail "GNU parallel ran $(wc -l <"$T/parallel.calls") times, not 4"
grep -q -- "--one .*m-00003-of-00003.gguf" "$T/parallel.calls" ||
  fail "parallel was not given the shards: $(cat "$T/parallel.calls")"

# check_release M V PREV_V COUNT: each of the COUNT shards of M/vV is in rel/M-V unchanged,
# its signed stream rebuilds it, its signed patch turns the previous release's shard into it.
check_release() {
  local m=$1 v=$2 p=$3 f base stem out=$rel/$1-$2 n=0
  for f in "$T/$m/v$v"/*.gguf "$T/$m/v$v"/*.safetensors; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    base=${f##*/} stem=${base%.*}
    cmp -s "$out/$base" "$f" || fail "$m-$v/$base differs from the input shard"
    mln-verify --pubkey "$T/pub.pem" --name "$stem" --min-version "$v" "$out/$stem.mlns" \
      2>"$T/err" | mln-emit | cmp -s - "$f" ||
      fail "$stem.mlns does not verify and rebuild $base: $(cat "$T/err")"
    # Signed by the release key and no other.
    expect_exit 1 mln-verify --pubkey "$T/other.pub" "$out/$stem.mlns"
    if [ -n "$p" ]; then
      mln-verify --pubkey "$T/pub.pem" --name "$stem" --min-version "$v" "$out/$stem.mlnp" \
        2>"$T/err" | mln-apply "$rel/$m-$p/$base" - | cmp -s - "$f" ||
        fail "$stem.mlnp does not verify and turn $m-$p/$base into v$v's: $(cat "$T/err")"
      expect_exit 1 mln-verify --pubkey "$T/other.pub" "$out/$stem.mlnp"
    else
      [ ! -e "$out/$stem.mlnp" ] || fail "a first release has a patch: $stem.mlnp"
    fi
  done
  [ "$n" = "$4" ] || fail "$m v$v: $n shards checked, expected $4"
}
check_release gguf 1 "" 3
check_release gguf 2 1 3
check_release st 2 1 2
(cd "$rel/gguf-2" && sha256sum --quiet -c SHA256SUMS) || fail "gguf-2 SHA256SUMS"
grep -q " m-00002-of-00003.mlnp$" "$rel/gguf-2/SHA256SUMS" || fail "SHA256SUMS lacks the patches"
# The first shard did not change: its patch only names base ranges, far smaller than a stream.
[ "$(stat -c %s "$rel/gguf-2/m-00001-of-00003.mlnp")" -lt \
  $(( $(stat -c %s "$rel/gguf-2/m-00001-of-00003.mlns") / 4 )) ] || fail "patch of an unchanged shard is not small"

# The index: released unchanged, signed, and it still matches the shards a device rebuilds
# from the streams alone (mln-parse checks every mapped tensor in its shard).
idx=model.safetensors.index.json
cmp -s "$rel/st-2/$idx" "$T/st/v2/$idx" || fail "index changed"
mkdir "$T/device"
for s in "$rel/st-2"/*.mlns; do
  name=$(basename "$s" .mlns)
  mln-verify --pubkey "$T/pub.pem" --name "$name" "$s" | mln-emit -o "$T/device/$(
    case $name in *.index) echo "$name.json" ;; *) echo "$name.safetensors" ;; esac)"
done
cmp -s "$T/device/$idx" "$T/st/v2/$idx" || fail "index stream does not rebuild the index"
mln-inspect "$T/device/$idx" >"$T/idx"
grep -q "safetensors.index.checked yes" "$T/idx" || fail "index not checked: $(cat "$T/idx")"
grep -q "safetensors.index.shard.model-00001-of-00002.safetensors 2 tensors mapped, 2 in the file" \
  "$T/idx" || fail "shard 1 not matched by the index: $(cat "$T/idx")"
# An index that no longer matches its shards fails the release and is not published.
rc=0; "$rs" --key "$T/key.pem" --version 3 --level 3 "$T/st/bad" "$rel/st-bad" 2>"$T/log" || rc=$?
[ "$rc" != 0 ] || fail "a release whose index misses a tensor succeeded"
grep -q "does not match the released shards" "$T/log" || fail "no index message: $(cat "$T/log")"
[ ! -e "$rel/st-bad/$idx" ] && [ ! -e "$rel/st-bad/SHA256SUMS" ] || fail "a bad index was published"

# mln-inspect tells a GGUF split shard from a whole model.
mln-inspect "$T/gguf/v2/m-00002-of-00003.gguf" >"$T/insp"
grep -Eq "^  split +shard 2 of 3 \(split.no 1\), 2 tensors here of 6$" "$T/insp" ||
  fail "no split line: $(head -12 "$T/insp")"
mln-inspect "$T/st/v2/model-00001-of-00002.safetensors" | grep -c "^  split " >/dev/null &&
  fail "a safetensors shard shown as a GGUF split"

# A damaged shard fails the release, and the run leaves no temporary files.
cp -r "$T/gguf/v2" "$T/gguf/broken"
head -c 3000 "$T/gguf/v2/m-00003-of-00003.gguf" >"$T/gguf/broken/m-00003-of-00003.gguf"
rc=0; "$rs" --key "$T/key.pem" --version 3 "$T/gguf/broken" "$rel/broken" 2>"$T/log" || rc=$?
[ "$rc" != 0 ] || fail "release of a truncated shard succeeded"
[ ! -e "$rel/broken/m-00003-of-00003.mlns" ] || fail "a truncated shard was released"
[ -z "$(find "$rel/broken" -name '.*.tmp')" ] || fail "temporary files left: $(ls -a "$rel/broken")"

# The same release as Slurm array tasks (SLURM_ARRAY_TASK_ID picks the shard), one task at
# a time here, then the finishing job: the same shard models, streams that rebuild them.
n=$("$rs" --count "$T/gguf/v2")
[ "$n" = 3 ] || fail "--count: $n"
export MLN_SRC="$T/gguf/v2" MLN_OUT="$rel/slurm-2" MLN_PREV="$rel/gguf-1" MLN_KEY="$T/key.pem" \
  MLN_VERSION=2 MLN_QUANT= RELEASE_SHARDS="$rs"
for i in $(seq 0 $((n - 1))); do
  SLURM_ARRAY_TASK_ID=$i bash "$EXAMPLES/sharded/slurm-array.sbatch" 2>"$T/log" ||
    fail "array task $i: $(cat "$T/log")"
  [ "$(ls "$rel/slurm-2"/*.mlns | wc -l)" = $((i + 1)) ] || fail "task $i did not release exactly one shard"
done
bash "$EXAMPLES/sharded/slurm-array.sbatch" --finish 2>"$T/log" || fail "finish: $(cat "$T/log")"
(cd "$rel/slurm-2" && sha256sum --quiet -c SHA256SUMS) || fail "slurm-2 SHA256SUMS"
for f in "$T/gguf/v2"/*.gguf; do
  base=${f##*/}
  cmp -s "$rel/slurm-2/$base" "$rel/gguf-2/$base" || fail "array task made another $base"
  mln-emit "$rel/slurm-2/${base%.gguf}.mlns" | cmp -s - "$f" || fail "array stream of $base"
done
SLURM_ARRAY_TASK_ID=3 bash "$EXAMPLES/sharded/slurm-array.sbatch" 2>"$T/log" &&
  fail "task 3 of 3 shards succeeded"
grep -q "has 3 shards" "$T/log" || fail "out-of-range task: $(cat "$T/log")"
# The Kubernetes Job runs the same command with the index the Job controller sets.
y=$EXAMPLES/sharded/k8s-indexed-job.yaml
grep -q "completionMode: Indexed" "$y" && grep -q -- '--shard "$JOB_COMPLETION_INDEX"' "$y" ||
  fail "$y is not an Indexed Job running release-shards --shard"
unset MLN_SRC MLN_OUT MLN_PREV MLN_KEY MLN_VERSION MLN_QUANT RELEASE_SHARDS

# Quantized GGUF shards (when this build has mln-quant): each stream rebuilds the
# quantized shard, which holds q8_0 tensors and still carries its split facts.
if [ -n "$QUANT" ]; then
  "$rs" --key "$T/key.pem" --version 2 --level 3 --quant "$QUANT" --prev "$rel/gguf-1" \
    "$T/gguf/v2" "$rel/q-2" 2>"$T/log" || fail "quantized release: $(cat "$T/log")"
  for f in "$rel/q-2"/*.gguf; do
    stem=$(basename "$f" .gguf)
    mln-emit "$rel/q-2/$stem.mlns" | cmp -s - "$f" || fail "$stem.mlns does not rebuild the q8_0 shard"
    mln-inspect "$f" >"$T/insp"
    grep -Eq " q8_0 +\[32, 64\]" "$T/insp" || fail "$stem not quantized: $(cat "$T/insp")"
    grep -q "^  split " "$T/insp" || fail "$stem lost its split facts"
    mln-apply "$rel/gguf-1/$(basename "$f")" "$rel/q-2/$stem.mlnp" | cmp -s - "$f" ||
      fail "$stem.mlnp does not make the quantized shard"
  done
fi
echo ok
