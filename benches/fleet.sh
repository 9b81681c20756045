#!/usr/bin/env bash
# Fleet simulation for docs/PERFORMANCE.md: incremental `pull --stack`
# against whole-bundle pulls, on s3s-fs on loopback (signed requests).
#
# 100 cookbooks of 2 KB to 2 MB (log-uniform, scaled to about 30 MB; each a
# metadata.json, a recipe and a file of random bytes, so gzip cannot shrink
# it) are packed and published onto stack `prod`. Then 50 instances (50
# `--into` directories, each with its own local store) pull concurrently:
#   (a) the first set, (b) an update changing one cookbook (a median-sized
#   one), (c) an update changing ten (picked at random, seed 7).
# A second fleet of 50 pulls the same bundles with its local stores
# emptied before each round, which makes every pull fetch the whole bundle:
# the baseline. For each round: wall time from the first start to the last
# exit, and bytes fetched (pointer + record + cookbook ranges or bundle,
# summed from each pull's `--format json` figures). After each round every
# instance is checked with `larder verify-bundle --into` and must run the
# bundle the stack points at.
# Usage: cargo build --release && benches/fleet.sh [INSTANCES]
set -euo pipefail
cd "$(dirname "$0")/.."
LARDER=${LARDER:-$PWD/target/release/larder}
N=${1:-50}
export AWS_ACCESS_KEY_ID=AKIAFLEET AWS_SECRET_ACCESS_KEY=fleet-secret-0123456789
. benches/support/s3s.sh fleet
ms() { awk -v s="$1" -v e="$2" 'BEGIN {printf "%.0f\n", (e-s)*1000}'; }
store=s3://fleet/store
export LARDER_STORE=$store

# The cookbooks, and the ones each update changes.
python3 - "$work/cookbooks" <<'EOF'
import json, math, os, random, sys
root = sys.argv[1]
rng = random.Random(7)
drawn = [math.exp(rng.uniform(math.log(2_000), math.log(2_000_000))) for _ in range(100)]
scale = 30_000_000 / sum(drawn)  # about 30 MB in all, each still within 2 KB..2 MB
sizes = [int(min(2_000_000, max(2_000, s * scale))) for s in drawn]
for i, size in enumerate(sizes):
    name = f"cb{i:03d}"
    os.makedirs(f"{root}/{name}/recipes")
    os.makedirs(f"{root}/{name}/files")
    with open(f"{root}/{name}/metadata.json", "w") as f:
        json.dump({"name": name, "version": "1.0.0"}, f)
    with open(f"{root}/{name}/recipes/default.rb", "w") as f:
        f.write(f"log '{name}'\n")
    with open(f"{root}/{name}/files/data.bin", "wb") as f:
        f.write(rng.randbytes(size))
by_size = sorted(range(100), key=lambda i: sizes[i])
one = by_size[50]
ten = rng.sample(range(100), 10)
with open(f"{root}/../plan", "w") as f:
    f.write(f"cb{one:03d}\n")
    f.write(" ".join(f"cb{i:03d}" for i in ten) + "\n")
print(f"cookbooks: 100, {sum(sizes)} bytes; (b) changes cb{one:03d} ({sizes[one]} bytes);"
      f" (c) changes {', '.join(f'cb{i:03d}' for i in ten)} ({sum(sizes[i] for i in ten)} bytes)")
EOF
one=$(sed -n 1p "$work/plan")
ten=$(sed -n 2p "$work/plan")

publish() {
  "$LARDER" -q package "$work/$1.tar.gz" --from "$work/cookbooks"
  "$LARDER" -q publish "$work/$1.tar.gz" --stack prod
  echo "bundle $1: $(stat -c %s "$work/$1.tar.gz") bytes"
}
change() { for cb in "$@"; do echo "log 'changed $round'" >> "$work/cookbooks/$cb/recipes/default.rb"; done; }

pointer_bytes() { stat -c %s "$work/s3/fleet/store/stacks/prod.json"; }

# Runs one round on fleet $1 (incremental|full); prints wall ms, bytes, modes.
round() {
  local fleet=$1 out=$work/out/$1/$round
  mkdir -p "$out"
  if [ "$fleet" = full ]; then
    for i in $(seq "$N"); do rm -rf "$work/$fleet/$i/cookbooks.larder/store"; done
  fi
  local s e
  local pulls=()
  s=$(now)
  for i in $(seq "$N"); do
    "$LARDER" -F json pull --stack prod --into "$work/$fleet/$i/cookbooks" > "$out/$i.json" &
    pulls+=($!)
  done
  for pid in "${pulls[@]}"; do wait "$pid"; done
  e=$(now)
  local expected
  expected=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["bundle"])' "$work/s3/fleet/store/stacks/prod.json")
  for i in $(seq "$N"); do
    "$LARDER" -q verify-bundle --into "$work/$fleet/$i/cookbooks" > /dev/null
    readlink "$work/$fleet/$i/cookbooks" | grep -q "$expected" \
      || { echo "instance $i of $fleet does not run $expected" >&2; exit 1; }
  done
  python3 - "$out" "$N" "$(pointer_bytes)" "$(ms "$s" "$e")" "$fleet" "$round" <<'EOF'
import collections, json, sys
out, n, pointer, wall, fleet, rnd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
total, modes, fetched = 0, collections.Counter(), collections.Counter()
for i in range(1, n + 1):
    t = json.load(open(f"{out}/{i}.json"))["transfer"]
    total += pointer + t["record_bytes"] + t["bundle_bytes"] + t["fetched_bytes"]
    modes[t["mode"]] += 1
    fetched[len(t["fetched"])] += 1
print(f"{rnd} {fleet:<11} wall {wall:>6} ms  bytes {total:>11}  ({total // n} per instance)"
      f"  modes {dict(modes)}  cookbook ranges fetched per instance {dict(fetched)}")
EOF
}

mkdir -p "$work/incremental" "$work/full"
for i in $(seq "$N"); do mkdir -p "$work/incremental/$i" "$work/full/$i"; done
round=a; publish a
round incremental; round full
round=b; change "$one"; publish b
round incremental; round full
# shellcheck disable=SC2086
round=c; change $ten; publish c
round incremental; round full
echo "every instance verified (verify-bundle --into) and on the stack's bundle after each round"
