#!/usr/bin/env bash
# Delivery figures for docs/PERFORMANCE.md, against s3s-fs on loopback
# (signed requests) and a static HTTP server (python3 -m http.server):
#   1. publishing a 200 MB bundle vs a single-stream `curl --aws-sigv4` PUT
#      of the same bytes to the same server, with the default settings (one
#      request; the bundle packed in the same $LARDER_HOME, so taken on
#      package's checks, and again from a home without its memo, so
#      checked in full) and with `[store] multipart_threshold` lowered so
#      that it goes up in parallel parts; with the processor time of the client
#      and of the server during each, a second curl PUT per round as the
#      yardstick of what noise alone does to a ratio, and the upload
#      request alone (curl's time_total, publish's upload_seconds); each
#      ratio's median with its 95 % bootstrap interval;
#   2. `stack promote` and `stack rollback` round trips;
#   3. `pull --stack` vs `pull URL` of the same bundles from the same
#      static server, and a pull by stack with the bundle already in place.
# Usage: cargo build --release && TMPDIR=/dev/shm benches/stacks.sh [ROUNDS]
# (60 rounds take about five minutes)
# (a tmpfs keeps disk writeback of the uploaded gigabytes out of the
# figures; each round's uploads are removed after it).
set -euo pipefail
cd "$(dirname "$0")/.."
LARDER=${LARDER:-$PWD/target/release/larder}
ROUNDS=${1:-5}
export AWS_ACCESS_KEY_ID=AKIABENCH AWS_SECRET_ACCESS_KEY=bench-secret-0123456789
. benches/support/s3s.sh bench
# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {m=int((NR+1)/2); if (NR%2) print a[m]; else print (a[m]+a[m+1])/2}'; }
# The median of the ratios on stdin, with its 95 % bootstrap interval (10 000
# resamples, fixed seed) and how many are above 1: whether a ratio's median
# differs from 1 by more than the rounds' spread explains.
median_interval() {
  python3 -c '
import random, statistics, sys
r = [float(x) for x in sys.stdin.read().split()]
random.seed(1)
m = sorted(statistics.median(random.choices(r, k=len(r))) for _ in range(10000))
print(f"{statistics.median(r):.3f} (95% interval {m[249]:.3f} to {m[9749]:.3f}; above 1 in {sum(x > 1 for x in r)} of {len(r)})")'
}
ms() { awk -v s="$1" -v e="$2" 'BEGIN {printf "%.1f\n", (e-s)*1000}'; }

# A cookbook set of 200 MB that gzip cannot shrink, packed once.
big=$work/big
mkdir -p "$big/blob/files"
echo '{"name":"blob","version":"1.0.0"}' > "$big/blob/metadata.json"
for i in $(seq 10); do head -c 20000000 /dev/urandom > "$big/blob/files/part$i.bin"; done
"$LARDER" -q package "$work/big.tar.gz" --from "$big"
size=$(stat -c %s "$work/big.tar.gz")
echo "bundle: $size bytes"

# The same larder with parts of 16 MiB from 16 MiB on, and one whose home
# has no memo of packing the bundle.
mkdir -p "$work/parts-home" "$work/elsewhere-home"
printf '[store]\nmultipart_threshold = 16777216\n' > "$work/parts-home/config.toml"

digest=$(cut -d' ' -f1 "$work/big.tar.gz.sha256")
# Processor time, user + system, in seconds: of the timed command (bash's
# `time`), and of s3s-fs over the same run (from /proc, in clock ticks).
TIMEFORMAT='%3U %3S'
server_ticks() { awk '{print $14 + $15}' "/proc/${pids[0]}/stat"; }
ticks_per_second=$(getconf CLK_TCK)
# timed NAME COMMAND...: appends the wall time to NAME.txt and the
# processor times to NAME.cpu.
timed() {
  local name=$1 s e t0 t1
  shift
  sync; t0=$(server_ticks); s=$(now)
  { time "$@" 2>&3; } 3>&2 2>> "$work/$name.client"
  e=$(now); t1=$(server_ticks)
  ms "$s" "$e" >> "$work/$name.txt"
  tail -n1 "$work/$name.client" | awk -v d=$((t1 - t0)) -v hz="$ticks_per_second" \
    '{printf "%.3f %.3f\n", $1 + $2, d / hz}' >> "$work/$name.cpu"
}
echo "== publish vs curl PUT ($ROUNDS rounds, each of the four uploads in each place in turn)"
for name in curl curl2 publish checked parts; do : > "$work/$name.txt"; : > "$work/$name.cpu"; : > "$work/$name.client"; done
# curl2 is a second curl PUT in the same round: curl2 / curl is what the
# machine's noise and the order of a round alone make of two equal uploads,
# the yardstick for publish / curl.
steps=(curl publish curl2 checked)
for r in $(seq "$ROUNDS"); do
  first=$((r % 4))
  for step in "${steps[@]:first}" "${steps[@]:0:first}"; do
    case $step in
      curl*) timed "$step" curl -sS -f -o /dev/null -w '%{time_total}\n' --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
        -T "$work/big.tar.gz" "$AWS_ENDPOINT_URL/bench/$step/$r.tar.gz" >> "$work/$step.request" ;;
      publish) timed publish "$LARDER" -q publish "$work/big.tar.gz" --to "s3://bench/publish-$r" -F json \
        > "$work/publish-$r.json" ;;
      checked) LARDER_HOME=$work/elsewhere-home timed checked "$LARDER" -q publish "$work/big.tar.gz" \
        --to "s3://bench/checked-$r" -F json > "$work/checked-$r.json" ;;
    esac
  done
  # The first publish was taken on package's checks, the other checked.
  python3 -c 'import json, sys; assert [json.load(open(f))["rechecked"] for f in sys.argv[1:]] == [False, True]' \
    "$work/publish-$r.json" "$work/checked-$r.json"
  cmp "$work/big.tar.gz" "$work/s3/bench/publish-$r/bundles/$digest.tar.gz"
  cmp "$work/big.tar.gz" "$work/s3/bench/checked-$r/bundles/$digest.tar.gz"
  rm -rf "$work/s3/bench/curl" "$work/s3/bench/curl2" "$work/s3/bench/publish-$r" "$work/s3/bench/checked-$r"
done
echo "== publish in parts ($ROUNDS rounds)"
for r in $(seq "$ROUNDS"); do
  LARDER_HOME=$work/parts-home timed parts "$LARDER" -q publish "$work/big.tar.gz" --to "s3://bench/parts-$r"
  cmp "$work/big.tar.gz" "$work/s3/bench/parts-$r/bundles/$digest.tar.gz"
  rm -rf "$work/s3/bench/parts-$r"
done
echo "curl PUT median: $(median < "$work/curl.txt") ms   (runs: $(paste -sd' ' "$work/curl.txt"))"
echo "larder publish median: $(median < "$work/publish.txt") ms   (runs: $(paste -sd' ' "$work/publish.txt"))"
echo "larder publish, checked in full, median: $(median < "$work/checked.txt") ms   (runs: $(paste -sd' ' "$work/checked.txt"))"
echo "larder publish in parts median: $(median < "$work/parts.txt") ms   (runs: $(paste -sd' ' "$work/parts.txt"))"
# On a shared machine whole rounds run fast or slow together: the ratio
# within each round is the steadier comparison.
per_round() { paste "$work/$1.txt" "$work/curl.txt" | awk '{printf "%.3f\n", $1/$2}'; }
echo "larder publish / curl, per round: median $(per_round publish | median_interval)   (rounds: $(per_round publish | paste -sd' '))"
echo "larder publish checked in full / curl, per round: median $(per_round checked | median_interval)   (rounds: $(per_round checked | paste -sd' '))"
echo "curl2 / curl, per round (two equal uploads): median $(per_round curl2 | median_interval)   (rounds: $(per_round curl2 | paste -sd' '))"
# Against the mean of the round's two curl PUTs, which between them take
# two of the four places: the steadier yardstick of the two.
vs_curls() { paste "$work/$1.txt" "$work/curl.txt" "$work/curl2.txt" | awk '{printf "%.3f\n", $1/(($2+$3)/2)}'; }
echo "larder publish / mean of the round's two curl PUTs: median $(vs_curls publish | median_interval)"
echo "larder publish checked in full / mean of the round's two curl PUTs: median $(vs_curls checked | median_interval)"
for r in $(seq "$ROUNDS"); do
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["upload_seconds"])' "$work/publish-$r.json"
done > "$work/publish.request"
# The upload request alone: curl's time_total against the upload_seconds
# publish reports, both from the request to the server's answer.
echo "the upload request alone, publish / curl, per round: median $(paste "$work/publish.request" "$work/curl.request" | awk '{printf "%.3f\n", $1/$2}' | median)"
for name in curl publish checked; do
  echo "processor time during $name, median: client $(cut -d' ' -f1 "$work/$name.cpu" | median) s, s3s-fs $(cut -d' ' -f2 "$work/$name.cpu" | median) s"
done

# Two small bundles for the pointer and pull figures.
small() {
  local dir=$work/small-$1
  mkdir -p "$dir/app/files"
  echo "{\"name\":\"app\",\"version\":\"1.0.$1\"}" > "$dir/app/metadata.json"
  head -c 5000000 /dev/urandom > "$dir/app/files/data.bin"
  "$LARDER" -q package "$work/small-$1.tar.gz" --from "$dir"
}
small 1; small 2
store=s3://bench/stacks
"$LARDER" -q publish "$work/small-1.tar.gz" --to $store --stack one
"$LARDER" -q publish "$work/small-2.tar.gz" --to $store --stack two
"$LARDER" -q stack --store $store promote one prod

echo "== promote / rollback round trips (20 each, alternating)"
: > "$work/promote.txt"; : > "$work/rollback.txt"
for _ in $(seq 20); do
  s=$(now); "$LARDER" -q stack --store $store promote two prod; e=$(now); ms "$s" "$e" >> "$work/promote.txt"
  s=$(now); "$LARDER" -q stack --store $store rollback prod; e=$(now); ms "$s" "$e" >> "$work/rollback.txt"
done
echo "promote median: $(median < "$work/promote.txt") ms"
echo "rollback median: $(median < "$work/rollback.txt") ms"

echo "== pull --stack vs pull URL from one static server ($ROUNDS switches each)"
files=$work/files
"$LARDER" -q publish "$work/small-1.tar.gz" --to "file://$files" --stack prod
"$LARDER" -q publish "$work/small-2.tar.gz" --to "file://$files"
d1=$(cut -d' ' -f1 "$work/small-1.tar.gz.sha256"); d2=$(cut -d' ' -f1 "$work/small-2.tar.gz.sha256")
hport=$(free_port)
python3 -m http.server "$hport" --bind 127.0.0.1 --directory "$files" 2> "$work/http.log" >/dev/null &
pids+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$hport") 2>/dev/null && break; sleep 0.05; done
http=http://127.0.0.1:$hport
: > "$work/by-stack.txt"; : > "$work/by-url.txt"
for r in $(seq "$ROUNDS"); do
  for d in "$d2" "$d1"; do
    "$LARDER" -q stack --store "file://$files" pin prod "$d"
    s=$(now); "$LARDER" -q pull --stack prod --store "$http/" --into "$work/by-stack" >/dev/null; e=$(now)
    ms "$s" "$e" >> "$work/by-stack.txt"
    s=$(now); "$LARDER" -q pull "$http/bundles/$d.tar.gz" --into "$work/by-url" >/dev/null; e=$(now)
    ms "$s" "$e" >> "$work/by-url.txt"
  done
done
echo "pull --stack median: $(median < "$work/by-stack.txt") ms"
echo "pull URL median: $(median < "$work/by-url.txt") ms"
: > "$work/http.log"
: > "$work/in-place.txt"
for _ in $(seq 10); do
  s=$(now); "$LARDER" -q pull --stack prod --store "$http/" --into "$work/by-stack" >/dev/null; e=$(now)
  ms "$s" "$e" >> "$work/in-place.txt"
done
echo "pull --stack, already in place: median $(median < "$work/in-place.txt") ms, $(grep -ac '"GET' "$work/http.log") requests for 10 pulls: $(grep -ao '"GET [^ ]*' "$work/http.log" | sort | uniq -c | tr -s ' ' | paste -sd';')"
