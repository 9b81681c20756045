#!/usr/bin/env bash
# What flushing to disk costs `install` and `pull`, for docs/PERFORMANCE.md:
#   1. `install` into an empty store: 5 cookbooks (app 1.0.0 and what it
#      needs) from `larder serve registry-fixtures` on loopback;
#   2. `pull` of a 2,000-file bundle (200 cookbooks of 10 files) into a new
#      DIR, a switch between two such bundles, and a pull of the bundle DIR
#      already has (which reads the live set to check it).
# Each is timed (median wall time of ROUNDS runs) for LARDER and, when
# given, LARDER_BASE (a build of a commit before the flushes, for the
# difference; the two take turns), and run once under `strace -f -c -w` for the wall time spent
# in fsync/fdatasync and the number of calls.
# Usage: benches/durability.sh [ROUNDS]
#   LARDER=target/debug/larder LARDER_BASE=/path/to/older/larder
set -euo pipefail
cd "$(dirname "$0")/.."
LARDER=${LARDER:-$PWD/target/release/larder}
LARDER_BASE=${LARDER_BASE:-}
ROUNDS=${1:-7}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print a[m]; else print (a[m]+a[m+1])/2}'; }
ms() { awk -v s="$1" -v e="$2" 'BEGIN {printf "%.1f\n", (e-s)*1000}'; }
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy LARDER_STORE

"$LARDER" serve registry-fixtures --listen 127.0.0.1:0 >"$work/serve.out" &
pids+=($!)
for _ in $(seq 50); do grep -q ' at ' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.* at //p' "$work/serve.out")
mkdir -p "$work/project"
printf "source '%s'\ncookbook 'app', '= 1.0.0'\n" "$url" >"$work/project/Berksfile"
(cd "$work/project" && LARDER_HOME="$work/warm" "$LARDER" -q install)

# Two bundles of 200 cookbooks x 10 files, differing in one file each.
for variant in a b; do
  from="$work/vendored-$variant"
  for c in $(seq 200); do
    mkdir -p "$from/cb$c/recipes"
    printf '{"name":"cb%s","version":"1.0.0"}' "$c" >"$from/cb$c/metadata.json"
    for f in $(seq 9); do
      head -c 2048 /dev/urandom | base64 >"$from/cb$c/recipes/r$f.rb"
    done
  done
  mkdir -p "$work/bundle-$variant"
  "$LARDER" -q package "$work/bundle-$variant" --from "$from"
done
bundle_a=$(ls "$work"/bundle-a/*.tar.gz)
bundle_b=$(ls "$work"/bundle-b/*.tar.gz)

# install into an empty store; echoes the wall time in ms
run_install() {
  rm -rf "$work/home"
  local s e
  s=$(now)
  (cd "$work/project" && LARDER_HOME="$work/home" "$1" -q install >/dev/null)
  e=$(now)
  ms "$s" "$e"
}
# pull into a new DIR
run_pull_new() {
  rm -rf "$work/into" "$work/into.larder"
  local s e
  s=$(now)
  "$1" -q pull "$bundle_a" --into "$work/into" >/dev/null
  e=$(now)
  ms "$s" "$e"
}
# switch DIR from bundle a to b
run_pull_switch() {
  rm -rf "$work/into" "$work/into.larder"
  "$1" -q pull "$bundle_a" --into "$work/into" >/dev/null
  local s e
  s=$(now)
  "$1" -q pull "$bundle_b" --into "$work/into" >/dev/null
  e=$(now)
  ms "$s" "$e"
}
# pull the bundle DIR already has (the live set is checked file by file)
run_pull_again() {
  rm -rf "$work/into" "$work/into.larder"
  "$1" -q pull "$bundle_a" --into "$work/into" >/dev/null
  local s e
  s=$(now)
  "$1" -q pull "$bundle_a" --into "$work/into" >/dev/null
  e=$(now)
  ms "$s" "$e"
}
# fsync/fdatasync wall time (ms) and calls of one run of CASE with BINARY
fsync_share() {
  local case=$1 binary=$2 wrapper="$work/traced"
  printf '#!/bin/sh\nexec strace -f -c -w -e trace=fsync,fdatasync -o %s/strace.txt %s "$@"\n' \
    "$work" "$binary" >"$wrapper"
  chmod +x "$wrapper"
  "run_$case" "$wrapper" >/dev/null
  awk '$NF == "total" {printf "%.1f ms in %d calls", $2 * 1000, $4}' "$work/strace.txt"
}

echo "| case | this build | base build | difference | fsync in this build (strace -c -w) |"
echo "|---|---|---|---|---|"
for case in install pull_new pull_switch pull_again; do
  # The two builds take turns, so that the machine's drift hits both.
  : >"$work/this.txt"
  : >"$work/base.txt"
  for _ in $(seq "$ROUNDS"); do
    "run_$case" "$LARDER" >>"$work/this.txt"
    if [ -n "$LARDER_BASE" ]; then "run_$case" "$LARDER_BASE" >>"$work/base.txt"; fi
  done
  this=$(median <"$work/this.txt")
  if [ -n "$LARDER_BASE" ]; then
    base=$(median <"$work/base.txt")
    diff=$(awk -v a="$this" -v b="$base" 'BEGIN {printf "%+.1f ms (%+.0f %%)", a-b, (a-b)*100/b}')
  else
    base=n/a diff=n/a
  fi
  flushed=$(fsync_share "$case" "$LARDER")
  echo "| $case | $this ms | $base ms | $diff | ${flushed:-none} |"
done
