# Sourced by the examples/ cases (after lib.sh): generated model versions and a release
# signing key.
EXAMPLES="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../examples" && pwd)"

# make_versions DIR: DIR/v1.gguf is the real F16 fixture; v2 and v3 are "fine-tunes" of it
# (tensor bytes changed near the end, layout the same), v1 -> v2 -> v3.
make_versions() {
  local f size
  f=$(gguf_fixtures | grep real_f16)
  size=$(stat -c %s "$f")
  mkdir -p "$1"
  cp "$f" "$1/v1.gguf"
  cp "$f" "$1/v2.gguf"
  head -c 4096 /dev/urandom | dd of="$1/v2.gguf" bs=1 seek=$((size - 70000)) conv=notrunc status=none
  cp "$1/v2.gguf" "$1/v3.gguf"
  head -c 8192 /dev/urandom | dd of="$1/v3.gguf" bs=1 seek=$((size - 40000)) conv=notrunc status=none
  openssl genpkey -algorithm ed25519 -out "$1/release.pem" 2>/dev/null
  openssl pkey -in "$1/release.pem" -pubout -out "$1/release.pub"
}

# The quantization step runs when this build has mln-quant.
QUANT=
[ -x "$MLN_BIN/mln-quant" ] && QUANT=q8_0

# release VERSION [PREV]: examples/release/Makefile publishes vVERSION of model 'm' from
# $T/models into $T/pub, with dist/ in $T/dist.
release() {
  make -s -f "$EXAMPLES/release/Makefile" NAME=m VERSION="$1" PREV="${2:-}" \
    MODEL="$T/models/v$1.gguf" KEY="$T/models/release.pem" QUANT="$QUANT" \
    DIST="$T/dist" PUBLISH="$T/pub" MLN_BIN="$MLN_BIN" LEVEL=3 publish
}
