#!/usr/bin/env bash
# deb_test.sh BUILD_DIR SOURCE_DIR: `cpack -G DEB` in the build tree makes a package that
# holds every filter, man page and completion, declares its shared-library dependencies
# (all installed here, as on Debian 12), and whose extracted binaries work.
set -euo pipefail
build=$1 src=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/mln-deb.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$T/out" >"$T/cpack.log" 2>&1 ||
  fail "cpack: $(cat "$T/cpack.log")"
debs=("$T"/out/*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one .deb in $T/out: ${debs[*]}"
deb=${debs[0]}

# Contents: every built filter, every man page and completion in the source tree (globbed,
# as the install rules are, so new filters are checked without editing this test).
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$T/list"
want=()
for b in "$build"/filters/mln-*; do [ -f "$b" ] && [ -x "$b" ] && want+=("/usr/bin/${b##*/}"); done
[ ${#want[@]} -ge 5 ] || fail "fewer than 5 filters built in $build/filters"
# Man pages gzipped (Debian policy 12.1), and the copyright file and changelog every
# Debian package carries in /usr/share/doc/PACKAGE.
for p in "$src"/man/mln-*.1; do want+=("/usr/share/man/man1/${p##*/}.gz"); done
for p in "$src"/man/mln-*.5; do want+=("/usr/share/man/man5/${p##*/}.gz"); done
want+=(/usr/share/doc/mln/copyright /usr/share/doc/mln/changelog.Debian.gz)
for c in "$src"/completions/bash/mln-*; do
  n=${c##*/}
  want+=("/usr/share/bash-completion/completions/$n" "/usr/share/zsh/vendor-completions/_$n"
         "/usr/share/fish/vendor_completions.d/$n.fish")
done
for w in "${want[@]}"; do grep -qx -- "$w" "$T/list" || fail "$w not in the package"; done
! grep -E '^/usr/share/man/man[0-9]/.*\.[0-9]$' "$T/list" || fail "uncompressed man pages in the package"

# Control fields; Depends comes from dpkg-shlibdeps and must name libc6 and the libraries
# the filters link (TBB, zstd, OpenSSL), each installed on this Debian system.
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = mln ] || fail "Package: $(field Package)"
[ -n "$(field Maintainer)" ] || fail "no Maintainer"
[ -n "$(field Description)" ] || fail "no Description"
deps=$(field Depends)
for lib in libc6 libtbb libzstd libssl; do
  grep -q "$lib" <<<"$deps" || fail "Depends lacks $lib: '$deps'"
done
for d in $(tr ',' '\n' <<<"$deps" | sed 's/(.*//; s/|.*//' | tr -d ' '); do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" ||
    fail "dependency $d is not installed here"
done

# Smoke test of the extracted binaries (they find their libraries on the system).
dpkg-deb -x "$deb" "$T/root"
bin=$T/root/usr/bin
for b in "$bin"/mln-*; do
  v=$("$b" -V) || fail "${b##*/} -V failed"
  grep -q "^${b##*/} mln [0-9]" <<<"$v" || fail "${b##*/} -V printed '$v'"
done
# A generated safetensors model: header length (u64 LE), JSON padded to 8 bytes, 32 bytes.
json='{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"F16","shape":[4],"data_offsets":[24,32]}}'
while [ $(( ${#json} % 8 )) -ne 0 ]; do json+=' '; done
{
  printf "$(printf '\\%03o' $(( ${#json} & 255 )) $(( ${#json} >> 8 )) 0 0 0 0 0 0)"
  printf '%s' "$json"
  head -c 32 /dev/urandom
} >"$T/m.safetensors"
"$bin/mln-parse" "$T/m.safetensors" | "$bin/mln-compress" | "$bin/mln-verify" |
  "$bin/mln-emit" -o "$T/back"
cmp "$T/m.safetensors" "$T/back" || fail "parse|compress|verify|emit round trip differs"
"$bin/mln-inspect" "$T/m.safetensors" | grep -c "F32\|f32" >/dev/null || fail "mln-inspect shows no tensor"
# Every man page is the source page, gzipped without a timestamp (reproducible, as lintian
# asks), and renders.
for p in "$src"/man/mln-*.[15]; do
  gz=$T/root/usr/share/man/man${p##*.}/${p##*/}.gz
  zcat "$gz" | cmp -s - "$p" || fail "$gz is not $p gzipped"
  [ "$(od -An -tu4 -j4 -N4 "$gz" | tr -d ' ')" = 0 ] || fail "$gz carries a timestamp (gzip without -n)"
done
page=$T/root/usr/share/man/man1/mln-parse.1.gz
if command -v mandoc >/dev/null; then
  zcat "$page" | mandoc -T utf8 | grep -c "mln-parse" >/dev/null || fail "$page does not render"
elif command -v groff >/dev/null; then
  zcat "$page" | groff -mandoc -Tutf8 | grep -c "mln-parse" >/dev/null || fail "$page does not render"
fi
# copyright: DEP-5 (machine-readable), a header naming the format, then a Files: * paragraph
# with Copyright and License fields; no license is invented where the sources grant none.
cr=$T/root/usr/share/doc/mln/copyright
head -1 "$cr" | grep -qx "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/" ||
  fail "copyright is not DEP-5: $(head -1 "$cr")"
awk 'BEGIN { RS = "" } /(^|\n)Files: \*\n/ && /\nCopyright: / && /\nLicense: / { ok = 1 } END { exit !ok }' "$cr" ||
  fail "copyright has no 'Files: *' paragraph with Copyright and License: $(cat "$cr")"
grep -qx "License: unspecified, all rights reserved by the mln authors" "$cr" ||
  fail "copyright License is not the 'unspecified' statement: $(grep License "$cr")"
# changelog.Debian.gz: its first entry is this package and version.
zcat "$T/root/usr/share/doc/mln/changelog.Debian.gz" | head -1 |
  grep -q "^mln ($(field Version)) " || fail "changelog.Debian.gz does not start with mln ($(field Version))"
echo "ok: $(basename "$deb"), $(stat -c %s "$deb") bytes, Depends: $deps"
