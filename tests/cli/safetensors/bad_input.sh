#!/usr/bin/env bash
# Hostile safetensors: one-line error, exit 65, no output file, from files and pipes.
source "$(dirname "$0")/../lib.sh"
mk() {  # mk NAME LENGTH JSON [DATA_BYTES]
  /usr/bin/python3 -c '
import struct, sys
text, data = sys.argv[3].encode(), int(sys.argv[4])
n = len(text) if sys.argv[2] == "-" else int(sys.argv[2])
open(sys.argv[1], "wb").write(struct.pack("<Q", n) + text + bytes(data))' "$T/$1" "$2" "$3" "${4:-16}"
}
ok='{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}'
mk huge 4294967296 "$ok"
mk overlap - '{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}'
mk range - '{"a":{"dtype":"U8","shape":[8],"data_offsets":[12,20]}}'
mk size - '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'
mk dup - '{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[8],"data_offsets":[8,16]}}'
mk notjson - '{"a": nope'
mk past 5000 "$ok"
check() {  # check FILE PATTERN
  expect_exit 65 mln-parse "$T/$1" -o "$T/out.mlns"
  expect_err "$2"
  [ ! -e "$T/out.mlns" ] || fail "$1: output left behind"
  STDIN="$T/$1" expect_exit 65 mln-parse -o "$T/out.mlns"
  [ ! -e "$T/out.mlns" ] || fail "$1 (pipe): output left behind"
}
check huge "header length 4294967296 exceeds the limit"
check overlap "overlap"
check range "past the data section"
check size "expected 12"
check dup "key 'a' twice"
check notjson "not valid JSON"
check past "runs past the end"
expect_exit 65 mln-parse --format safetensors /dev/null
