#!/usr/bin/env bash
# The issue's pipeline, `mln-parse f16.gguf | mln-quant -t q4_k | mln-emit > q4k.gguf`, read
# by ggml's gguf reader and loaded by llama.cpp's own loader (libllama from npm
# @node-llama-cpp/linux-x64, through $MLN_LLAMA_TINY), which checks the llama architecture
# keys, every tensor's presence, shape and type, and the vocabulary; then one decode runs
# through the quantized matrices. The model is a tiny generated llama (2 layers, 300 tokens).
source "$(dirname "$0")/../lib.sh"
tool=${MLN_LLAMA_TINY:?MLN_LLAMA_TINY must name the mln_llama_tiny test tool}
# In a sanitizer build the tool runs llama.cpp's own libraries, whose allocations for the
# life of the process (backend registries, the model it loads once) LeakSanitizer reports at
# exit. The suppressions name those libraries only: mln's own code stays checked.
printf 'leak:libggml\nleak:libllama\n' > "$T/lsan.supp"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$T/lsan.supp"
"$tool" write "$T/f16.gguf"
# What mln-inspect (not llama.cpp) says the model holds: tensor count and parameters.
mln-inspect --json "$T/f16.gguf" > "$T/f16.json"
read -r n_tensors n_params < <(python3 -c '
import json, math, sys
ts = json.load(open(sys.argv[1]))["tensors"]
print(len(ts), sum(math.prod(t["shape"]) for t in ts))' "$T/f16.json")
[ "$n_tensors" -eq 21 ] || fail "the generated model has $n_tensors tensors"
"$tool" load "$T/f16.gguf" "$T/f16.logits" > "$T/f16.kv" || fail "llama.cpp cannot load the f16 model itself"

kv() { sed -n "s/^$1=//p" "$2"; }
# check NAME MODEL DESC MIN_COSINE: loads in ggml and llama.cpp with every tensor and
# parameter, the size mln-inspect reports, llama.cpp's name for the file type, finite logits
# over the vocabulary, and logits close to the f16 model's (cosine >= MIN_COSINE).
check() {
  local name=$1 model=$2 desc=$3 min_cos=$4
  "$tool" load "$model" "$T/$name.logits" > "$T/$name.kv" || fail "$name: load failed: $(cat "$T/$name.kv")"
  mln-inspect --json "$model" > "$T/$name.json"
  local bytes
  bytes=$(python3 -c 'import json, sys; print(sum(t["bytes"] for t in json.load(open(sys.argv[1]))["tensors"]))' "$T/$name.json")
  [ "$(kv gguf.n_tensors "$T/$name.kv")" -eq "$n_tensors" ] || fail "$name: ggml sees $(kv gguf.n_tensors "$T/$name.kv") tensors"
  [ "$(kv llama.n_params "$T/$name.kv")" -eq "$n_params" ] || fail "$name: llama.cpp counts $(kv llama.n_params "$T/$name.kv") parameters, not $n_params"
  [ "$(kv llama.size "$T/$name.kv")" -eq "$bytes" ] || fail "$name: llama.cpp size $(kv llama.size "$T/$name.kv"), mln-inspect $bytes"
  [ "$(kv llama.desc "$T/$name.kv")" = "llama ?B $desc" ] || fail "$name: llama.cpp calls it '$(kv llama.desc "$T/$name.kv")'"
  [ "$(kv llama.n_layer "$T/$name.kv")" -eq 2 ] && [ "$(kv llama.n_vocab "$T/$name.kv")" -eq 300 ] ||
    fail "$name: wrong hyperparameters: $(cat "$T/$name.kv")"
  [ "$(kv llama.finite_logits "$T/$name.kv")" -eq 300 ] || fail "$name: non-finite logits"
  python3 - "$T/f16.logits" "$T/$name.logits" "$min_cos" <<'PY' || fail "$name: logits far from the f16 model's"
import math, struct, sys
a, b = (struct.unpack("<300f", open(p, "rb").read()) for p in sys.argv[1:3])
cos = sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
sys.exit(0 if cos >= float(sys.argv[3]) else print(f"cosine {cos}") or 1)
PY
}

mln-parse "$T/f16.gguf" | mln-quant -t q4_k | mln-emit > "$T/q4k.gguf"
check q4_k "$T/q4k.gguf" "Q4_K - Medium" 0.95
grep -q '"type": "q4_K"' "$T/q4_k.json" || fail "no q4_K tensor"
mln-parse "$T/f16.gguf" | mln-quant -t q8_0 | mln-emit > "$T/q8.gguf"
check q8_0 "$T/q8.gguf" "Q8_0" 0.999
# A mixed recipe in the shape of llama.cpp's Q4_K_M (v and output wider, embeddings kept).
printf '*.attn_v.weight q8_0\noutput.weight q8_0\nblk.1.ffn_down.weight q4_0\ntoken_embd.weight keep\n' > "$T/recipe"
mln-parse "$T/f16.gguf" | mln-quant -t q4_k --type-map "$T/recipe" | mln-emit > "$T/mixed.gguf"
check mixed "$T/mixed.gguf" "Q4_K - Medium" 0.95
python3 - "$T/mixed.json" <<'PY' || fail "mixed: tensor types"
import json, sys
ty = {t["name"]: t["type"] for t in json.load(open(sys.argv[1]))["tensors"]}
want = {"blk.0.attn_v.weight": "q8_0", "blk.1.attn_v.weight": "q8_0", "output.weight": "q8_0",
        "blk.1.ffn_down.weight": "q4_0", "token_embd.weight": "f16", "blk.0.ffn_down.weight": "q4_K",
        "blk.1.attn_q.weight": "q4_K", "output_norm.weight": "f32"}
bad = {k: (ty[k], v) for k, v in want.items() if ty[k] != v}
assert not bad, bad
PY
# The ternary types load and run too (no closeness asked: Gaussian weights are not ternary).
for t in tq1_0 ternary; do
  mln-parse "$T/f16.gguf" | mln-quant -t $t | mln-emit > "$T/$t.gguf"
done
check tq1_0 "$T/tq1_0.gguf" "TQ1_0 - 1.69 bpw ternary" -1
check ternary "$T/ternary.gguf" "TQ2_0 - 2.06 bpw ternary" -1
echo ok
