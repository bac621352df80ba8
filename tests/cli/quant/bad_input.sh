#!/usr/bin/env bash
# mln-quant: unknown types, non-GGUF input, NaN weights, rows that do not fit under --strict:
# one-line errors with the right exit codes, and no output left behind.
source "$(dirname "$0")/../lib.sh"
f=$(gguf_fixtures | grep real_f16)
expect_exit 64 mln-quant -t q5_k "$f" -o "$T/x"
expect_err "unknown type 'q5_k' \(valid: q8_0, q4_0, q4_k, tq1_0, tq2_0, ternary, f32, f16\)"
expect_exit 64 mln-quant "$f" -o "$T/x"; expect_err "no type"
expect_exit 64 mln-quant -d -t q8_0 "$f" -o "$T/x"
expect_exit 64 mln-quant -t ternary --ternary-pack q2 "$f" -o "$T/x"
expect_exit 66 mln-quant -t q8_0 --type-map "$T/missing" "$f" -o "$T/x"
printf 'w.* q8_0 extra\n' > "$T/map"
expect_exit 64 mln-quant --type-map "$T/map" "$f" -o "$T/x"; expect_err "type map line 1"
# Not GGUF: a safetensors model, as a file and as a stream.
python3 -c '
import struct, sys
t = b"{\"w\":{\"dtype\":\"F32\",\"shape\":[32,2],\"data_offsets\":[0,256]}}"
open(sys.argv[1], "wb").write(struct.pack("<Q", len(t)) + t + bytes(256))' "$T/m.safetensors"
expect_exit 65 mln-quant -t q8_0 "$T/m.safetensors" -o "$T/x"
expect_err "quantization writes GGUF; input is safetensors"
mln-parse "$T/m.safetensors" -o "$T/st.mlns"
expect_exit 65 mln-quant -t q8_0 "$T/st.mlns" -o "$T/x"; expect_err "input is safetensors"
# A NaN in a weight: reported with the tensor name; --allow-nonfinite goes on.
cp "$f" "$T/nan.gguf"
off=$(mln-inspect --json "$f" | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = [t for t in d["tensors"] if t["name"] == "w.20"][0]
print(t["offset"] + 6)')
printf '\x00\x7e' | dd of="$T/nan.gguf" bs=1 seek="$off" conv=notrunc status=none
expect_exit 65 mln-quant -t q8_0 --include '*' "$T/nan.gguf" -o "$T/x"
expect_err "'w.20'.*NaN weight at element 3"
[ ! -e "$T/x" ] || fail "failed run left output behind"
expect_exit 0 mln-quant -t q8_0 --include '*' --allow-nonfinite "$T/nan.gguf" -o "$T/x"
# Rows of 32 do not fit Q4_K's 256-blocks: kept, or an error under --strict.
expect_exit 65 mln-quant -t q4_k --include 'w.20' --strict "$f" -o "$T/y"
expect_err "row length 32 is not a multiple of q4_K's block of 256"
# A damaged stream is refused, naming the frame.
mln-parse "$f" -o "$T/s"
size=$(stat -c %s "$T/s")
damage "$T/s" $((size / 2))
expect_exit 65 mln-quant -t q8_0 "$T/s" -o "$T/z"; expect_err "frame [0-9]+"
echo ok
