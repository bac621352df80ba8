# Shared by the fault-injection cases (tests/fault/*.sh): the CLI helpers plus generated
# models and the frame layout of a stream. Needs MLN_BIN and MLN_GEN (mln_fault_gen).
. "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
: "${MLN_GEN:?MLN_GEN must name the mln_fault_gen binary}"

# gen_model OUT MIB [TENSORS]: a synthetic f32 GGUF of about MIB MiB.
gen_model() { "$MLN_GEN" "$@" || fail "mln_fault_gen $*"; }

# frame_layout STREAM: one line per frame: "index start header payload end", where header is
# the offset of its FlatBuffers header, payload of its payload (= end when it has none).
frame_layout() {
  /usr/bin/python3 - "$1" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
pos, i = 16, 0
while pos + 24 <= len(b):
    magic, hlen, plen = struct.unpack_from("<IIQ", b, pos)
    assert magic == 0x464E4C4D, f"bad frame magic at {pos}"
    hdr = pos + 24
    pay = hdr + hlen
    if plen:
        pay += -pay % 64
    end = pay + plen
    print(i, pos, hdr, pay, end)
    pos, i = end, i + 1
assert pos == len(b), f"stream ends at {len(b)}, last frame at {pos}"
PY
}

# sanitized: true when the filters are built with AddressSanitizer (virtual memory limits
# mean nothing to them).
# The outputs are captured, not piped into `grep -q`: grep exits at the first match, the
# writer then dies of SIGPIPE, and under pipefail the test saw "not sanitized" now and then.
sanitized() {
  local libs syms
  libs=$(ldd "$MLN_BIN/mln-parse" 2>/dev/null || true)
  [[ $libs == *libasan* ]] && return 0
  syms=$(nm "$MLN_BIN/mln-parse" 2>/dev/null || true)
  [[ $syms == *__asan_init* ]]
}

# no_temp_files DIR: no ".name.mln-XXXXXX" temporary output is left in DIR.
no_temp_files() {
  local left
  left=$(find "$1" -maxdepth 1 -name '.*.mln-*' | head -3)
  [ -z "$left" ] || fail "temporary files left behind: $left"
}

# flip_variants STREAM OUTDIR SEED: writes copies of STREAM with one bit flipped each, named
# OFFSET.BIT: four bytes of the stream header (magic, version, flags), then per frame one bit
# in its prefix, one in its FlatBuffers header, one in its padding and one in its payload,
# and 16 anywhere.
flip_variants() {
  frame_layout "$1" >"$2.layout"
  mkdir -p "$2"
  /usr/bin/python3 - "$1" "$2" "$3" "$2.layout" <<'PY'
import random, sys
src, out, seed, layout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
b = open(src, "rb").read()
r = random.Random(seed)
pos = {0, 7, 8, 12}
for line in open(layout):
    i, start, hdr, pay, end = map(int, line.split())
    hend = hdr + int.from_bytes(b[start + 4:start + 8], "little")
    pos.add(r.randrange(start, hdr))
    pos.add(r.randrange(hdr, hend))
    if pay > hend:
        pos.add(r.randrange(hend, pay))
    if end > pay:
        pos.add(r.randrange(pay, end))
pos.update(r.randrange(len(b)) for _ in range(16))
for p in sorted(pos):
    bit = r.randrange(8)
    v = bytearray(b)
    v[p] ^= 1 << bit
    open(f"{out}/{p}.{bit}", "wb").write(v)
PY
}
