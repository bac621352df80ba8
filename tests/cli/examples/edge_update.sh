#!/usr/bin/env bash
# examples/edge/mln-update-model: patch or full download, verify with key and version
# state, atomic switch, rollback, refusals that change nothing, logging through logger(1).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/models.bash"
make_versions "$T/models"
update=$EXAMPLES/edge/mln-update-model
# logger(1) stand-in: records what would go to syslog.
printf '#!/bin/sh\nprintf "%%s\\n" "$*" >> "%s"\n' "$T/syslog" > "$T/logger"
chmod +x "$T/logger"
export MLN_NAME=m MLN_SOURCE="$T/pub" MLN_PUBKEY="$T/models/release.pub" \
       MLN_ROOT="$T/device" MLN_LOGGER="$T/logger"
dev=$T/device
run() { local rc=0; "$update" "$@" 2>"$T/err" || rc=$?; echo "$rc"; }
logged() { tail -1 "$T/syslog" | grep -qE -- "$1" || fail "last log line '$(tail -1 "$T/syslog")' !~ /$1/"; }
is_current() {  # VERSION [PREVIOUS]
  cmp -s "$dev/current" "$T/dist/m-$1.gguf" || fail "current is not m-$1.gguf"
  [ "$("$update" --status | sed -n 's/^current //p')" = "$1" ] || fail "status: $("$update" --status)"
  [ -z "${2:-}" ] || cmp -s "$dev/previous" "$T/dist/m-$2.gguf" || fail "previous is not m-$2.gguf"
}

# First install: the full stream.
release 1
[ "$(run)" = 0 ] || fail "first install: $(cat "$T/err")"
is_current 1
logged "-t mln-update -p user.notice -- updated m from nothing to 1 \(full"
# Nothing new: nothing done.
[ "$(run)" = 0 ] || fail "up-to-date run failed"
logged "m 1 is current"
# v2: the patch, and the old model kept as previous.
release 2 1
[ "$(run)" = 0 ] || fail "patch update: $(cat "$T/err")"
is_current 2 1
logged "updated m from 1 to 2 \(patch"
grep -q '"m": 2' "$dev/state.json" || fail "state not recorded"

# v3 with a damaged patch: refused, and nothing changes (model, links, state, incoming/).
release 3 2
cp "$T/pub/m-2-3.mlnp" "$T/good.mlnp"
size=$(stat -c %s "$T/pub/m-2-3.mlnp")
damage "$T/pub/m-2-3.mlnp" $((size / 2))
rc=$(run)
[ "$rc" != 0 ] || fail "a damaged patch was applied"
logged "user.err -- refused m-2-3.mlnp"
is_current 2 1
grep -q '"m": 2' "$dev/state.json" || fail "state changed by a refused update"
[ -z "$(ls "$dev/incoming")" ] || fail "incoming/ not cleaned: $(ls "$dev/incoming")"
# Signed by another key: refused with status 1.
openssl genpkey -algorithm ed25519 -out "$T/other.pem" 2>/dev/null
mln-diff "$T/dist/m-2.gguf" "$T/dist/m-3.gguf" |
  mln-verify --sign "$T/other.pem" --name m --version 3 -o "$T/pub/m-2-3.mlnp"
[ "$(run)" = 1 ] || fail "a patch signed by an unknown key was not refused with 1"
is_current 2 1
# The good patch goes in; only current and previous models are kept.
cp "$T/good.mlnp" "$T/pub/m-2-3.mlnp"
[ "$(run)" = 0 ] || fail "update to 3: $(cat "$T/err")"
is_current 3 2
[ "$(ls "$dev/models")" = "$(printf 'm-2.gguf\nm-3.gguf')" ] || fail "models/: $(ls "$dev/models")"

# Rollback: back to 2, and 3 is held rather than reinstalled by the next run.
[ "$(run --rollback)" = 0 ] || fail "rollback failed"
is_current 2 3
logged "user.warning -- rolled back m from version 3 to 2"
[ "$(run)" = 0 ] || fail "run after rollback"
is_current 2 3
logged "held after a rollback"

# Downgrade or replay: a device that accepted 3 refuses a published 2.
mkdir -p "$T/device2"
cp "$dev/state.json" "$T/device2/state.json"
echo "m 2" > "$T/pub/LATEST"
[ "$(MLN_ROOT="$T/device2" run)" = 1 ] || fail "downgrade not refused with 1"
logged "refused m-2.mlns: .*not newer"
[ ! -e "$T/device2/current" ] || fail "downgrade installed a model"

# Without a syslog daemon the messages go to stderr instead (cron mails them).
MLN_LOGGER=false "$update" --status >/dev/null
env -u MLN_NAME "$update" 2>"$T/err" && fail "missing MLN_NAME accepted"
grep -q "MLN_NAME" "$T/err" || grep -q "MLN_NAME" "$T/syslog" || fail "config error not reported"
MLN_LOGGER=false "$update" 2>"$T/err" || true
grep -q "^mln-update: " "$T/err" || fail "no stderr fallback when logger fails: $(cat "$T/err")"
echo ok
