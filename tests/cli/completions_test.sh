#!/bin/sh
# completions_test.sh BINDIR COMPLETIONS_DIR
#
# Every long option that a filter's --help lists must appear in that filter's bash, zsh and
# fish completion files (STYLE.md 6.7): CLI11 generates no completions, so this test is what
# keeps the hand-written files in step with the flag tables.  Every mln-* executable in BINDIR
# must have all three files.  Prints one line per problem; exits 1 if there is any.
set -u

if [ $# -ne 2 ]; then
  echo "usage: $0 BINDIR COMPLETIONS_DIR" >&2
  exit 64
fi
bindir=$1
compdir=$2

fail=0
problem() {
  echo "completions_test: $*" >&2
  fail=1
}

found=0
for bin in "$bindir"/mln-*; do
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  found=1
  name=${bin##*/}
  help=$("$bin" --help) || { problem "$name --help failed"; continue; }
  opts=$(printf '%s\n' "$help" | grep -oE -- '--[A-Za-z0-9][A-Za-z0-9-]*' | sort -u)
  [ -n "$opts" ] || problem "$name --help lists no long options"

  bash_file=$compdir/bash/$name
  zsh_file=$compdir/zsh/_$name
  fish_file=$compdir/fish/$name.fish
  for f in "$bash_file" "$zsh_file" "$fish_file"; do
    [ -f "$f" ] || problem "$f: missing (no completion file for $name)"
  done

  for opt in $opts; do
    long=${opt#--}
    # bash: the option as a word in a word list or case pattern.
    if [ -f "$bash_file" ] &&
       ! grep -qE -- "(^|[[:space:]'\"|(])--$long([[:space:]'\"|)]|\$)" "$bash_file"; then
      problem "$bash_file: $opt missing"
    fi
    # zsh _arguments specs: --opt[, --opt=, --opt+, --opt}, --opt' (not exclusion lists).
    if [ -f "$zsh_file" ] &&
       ! grep -qE -- "(^|[[:space:]'\"{,(])--$long([]+[}=:'\",]|\$)" "$zsh_file"; then
      problem "$zsh_file: $opt missing"
    fi
    # fish: complete ... -l opt (or --long-option opt).
    if [ -f "$fish_file" ] &&
       ! grep -qE -- "(-l|--long-option)[[:space:]]+'?$long'?([[:space:]]|\$)" "$fish_file"; then
      problem "$fish_file: $opt missing"
    fi
  done
done

[ "$found" -eq 1 ] || problem "no mln-* executables in $bindir"
exit "$fail"
