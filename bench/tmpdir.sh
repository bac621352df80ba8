# Sourced by the bench scripts that write large outputs: TMP is a fresh directory on tmpfs
# where there is one (MLN_BENCH_TMP overrides), removed on exit. On disk, writeback of
# earlier outputs throttled whichever tool wrote next, and moved the MB/s columns by 2x.
TMPROOT="${MLN_BENCH_TMP:-/dev/shm}"
[ -d "$TMPROOT" ] && [ -w "$TMPROOT" ] || TMPROOT="${TMPDIR:-/tmp}"
TMP=$(mktemp -d "$TMPROOT/mln-bench.XXXXXX"); trap 'rm -rf "$TMP"' EXIT
