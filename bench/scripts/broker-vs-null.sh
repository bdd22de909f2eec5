#!/bin/bash
# The broker against rmq-bench's null-server, in one run (README, "Benchmarks").
#
# Issue 6 asks for each side "with enough in-flight to saturate" it. The two saturate at
# different depths: null-server answers at once, so 2 x 128 in flight already keeps the client
# busy, while the broker holds every message until its flush round is written (~1-2 ms), so at
# the same depth it is latency-bound and partly idle. Each round therefore runs every target at
# every in-flight depth in IFLIGHT (per connection, 2 connections), interleaved, and the summary
# compares each side at its best depth (median over rounds), and also at each same depth.
#
# Per measurement: the server pinned to cpu0, the load to cpu1, 1 shard, fresh store, 2 s
# warm-up + 5 s measured. Then, on a default 2-shard broker: 1,000,000 produced and consumed from
# the first offset, and e2e latency at half of that produce rate.
# Usage: bench/scripts/broker-vs-null.sh [release bin dir] [scratch dir]
# Env: ROUNDS (3), IFLIGHT ("128 256 512"). Ports 39876 (NameServer), 39877 (null-server),
# 39911 (broker), all on 127.0.0.1.
set -u
BIN=${1:-target/release}
WORK=${2:-/tmp/rmq-broker-vs-null}
ROUNDS=${ROUNDS:-3}
IFLIGHT=${IFLIGHT:-128 256 512}
NS=39876; NP=39877; BP=39911
mkdir -p "$WORK"
: > "$WORK/results.tsv"
prod() { echo "-s 1024 -c 2 -i $1 --mode async -w 2 -d 5 --create-topic 8"; }
summary() { python3 -c "import json,sys; d=json.loads(sys.stdin.readlines()[-1]); print(round(d['tps']), 'msg/s p50', d['p50_us'], 'us p99', d['p99_us'], 'us errors', d['errors'])"; }
record() { # target depth
  python3 -c "import json,sys; d=json.loads(open('$WORK/prod.log').readlines()[-1]); print('$1', $2, round(d['tps']), d['errors'], sep='\t')" >> "$WORK/results.tsv"
}
echo "commit $(git rev-parse --short HEAD 2>/dev/null) load: $(cat /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  for i in $IFLIGHT; do
    taskset -c 0 "$BIN/rmq-bench" null-server --port $NP > "$WORK/null.log" 2>&1 & NPID=$!; sleep 0.5
    taskset -c 1 timeout 120 "$BIN/rmq-bench" produce -n 127.0.0.1:$NP -t PerfT $(prod "$i") > "$WORK/prod.log" 2>&1
    kill $NPID; wait $NPID 2>/dev/null
    echo "round $r, 2 x $i in flight, null-server: $(summary < "$WORK/prod.log")"; record null "$i"
    for F in ASYNC_FLUSH SYNC_FLUSH; do
      rm -rf "$WORK/store"
      taskset -c 0 "$BIN/rmq-broker" --standalone --storePathRootDir="$WORK/store" --listenPort=$BP -n 127.0.0.1:$NS --shards=1 --flushDiskType=$F > "$WORK/broker.log" 2>&1 & BPID=$!; sleep 1.5
      taskset -c 1 timeout 120 "$BIN/rmq-bench" produce -n 127.0.0.1:$NS -t PerfT $(prod "$i") --flush $F > "$WORK/prod.log" 2>&1
      kill $BPID; wait $BPID 2>/dev/null
      echo "round $r, 2 x $i in flight, broker $F: $(summary < "$WORK/prod.log")"; record "$F" "$i"
    done
  done
done
python3 - "$WORK/results.tsv" <<'EOF'
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().split('\n') if l]
med = {}
for target in ('null', 'ASYNC_FLUSH', 'SYNC_FLUSH'):
    for depth in sorted({int(r[1]) for r in rows}):
        v = [int(r[2]) for r in rows if r[0] == target and int(r[1]) == depth]
        if v:
            med[target, depth] = statistics.median(v)
depths = sorted({d for _, d in med})
for d in depths:
    print(f"2 x {d} in flight, medians: null {med['null', d]:.0f}, ASYNC_FLUSH {med['ASYNC_FLUSH', d]:.0f} "
          f"({100 * med['ASYNC_FLUSH', d] / med['null', d]:.1f}%), SYNC_FLUSH {med['SYNC_FLUSH', d]:.0f} "
          f"({100 * med['SYNC_FLUSH', d] / med['null', d]:.1f}%)")
best = {t: max(depths, key=lambda d: med[t, d]) for t in ('null', 'ASYNC_FLUSH', 'SYNC_FLUSH')}
n = med['null', best['null']]
print(f"each at its best depth: null {n:.0f} (2 x {best['null']}), "
      f"ASYNC_FLUSH {med['ASYNC_FLUSH', best['ASYNC_FLUSH']]:.0f} (2 x {best['ASYNC_FLUSH']}) = "
      f"{100 * med['ASYNC_FLUSH', best['ASYNC_FLUSH']] / n:.1f}% of null, "
      f"SYNC_FLUSH {med['SYNC_FLUSH', best['SYNC_FLUSH']]:.0f} (2 x {best['SYNC_FLUSH']}) = "
      f"{100 * med['SYNC_FLUSH', best['SYNC_FLUSH']] / n:.1f}%")
errors = sum(int(r[3]) for r in rows)
print(f"errors over all runs: {errors}")
EOF
rm -rf "$WORK/store"
"$BIN/rmq-broker" --standalone --storePathRootDir="$WORK/store" --listenPort=$BP -n 127.0.0.1:$NS > "$WORK/broker.log" 2>&1 & BPID=$!; sleep 1.5
timeout 300 "$BIN/rmq-bench" produce -n 127.0.0.1:$NS -t ConsT -s 1024 -c 2 -i 256 --mode async -m 1000000 --create-topic 8 > "$WORK/prod.log" 2>&1
echo "backlog produce (2 shards, 2 x 256 in flight): $(summary < "$WORK/prod.log")"
timeout 300 "$BIN/rmq-bench" consume -n 127.0.0.1:$NS -t ConsT -g BacklogG --from-first -m 1000000 --idle-exit 10 > "$WORK/cons.log" 2>&1
echo "backlog $(grep '^consume:' "$WORK/cons.log")"
RATE=$(python3 -c "import json; print(int(json.loads(open('$WORK/prod.log').readlines()[-1])['tps']/2))")
timeout 120 "$BIN/rmq-bench" e2e -n 127.0.0.1:$NS -t E2eT -s 1024 -c 2 -i 128 --mode async --rate "$RATE" -d 15 -w 2 --create-topic 8 > "$WORK/e2e.log" 2>&1
echo "e2e at $RATE msg/s: $(tail -1 "$WORK/e2e.log")"
kill $BPID; wait $BPID 2>/dev/null
rm -rf "$WORK/store"
