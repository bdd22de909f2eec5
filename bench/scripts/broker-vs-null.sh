#!/bin/bash
# The broker against rmq-bench's null-server, in one run (README, "Benchmarks"):
# three interleaved rounds of null-server / broker ASYNC_FLUSH / broker SYNC_FLUSH (server pinned
# to cpu0, load to cpu1, 1 shard, fresh store, 2 s warm-up + 5 s measured), then on a default
# 2-shard broker: 1,000,000 produced and consumed from the first offset, and e2e latency at half
# of that produce rate. Usage: bench/scripts/broker-vs-null.sh [release bin dir] [scratch dir]
# Ports 39876 (NameServer), 39877 (null-server), 39911 (broker), all on 127.0.0.1.
set -u
BIN=${1:-target/release}
WORK=${2:-/tmp/rmq-broker-vs-null}
NS=39876; NP=39877; BP=39911
mkdir -p "$WORK"
PROD="-s 1024 -c 2 -i 128 --mode async -w 2 -d 5 --create-topic 8"
summary() { python3 -c "import json,sys; d=json.loads(sys.stdin.readlines()[-1]); print(round(d['tps']), 'msg/s p50', d['p50_us'], 'us p99', d['p99_us'], 'us errors', d['errors'])"; }
echo "commit $(git rev-parse --short HEAD 2>/dev/null) load: $(cat /proc/loadavg)"
for r in 1 2 3; do
  taskset -c 0 "$BIN/rmq-bench" null-server --port $NP > "$WORK/null.log" 2>&1 & NPID=$!; sleep 0.5
  taskset -c 1 timeout 120 "$BIN/rmq-bench" produce -n 127.0.0.1:$NP -t PerfT $PROD > "$WORK/prod.log" 2>&1
  kill $NPID; wait $NPID 2>/dev/null
  echo "round $r null-server: $(summary < "$WORK/prod.log")"
  for F in ASYNC_FLUSH SYNC_FLUSH; do
    rm -rf "$WORK/store"
    taskset -c 0 "$BIN/rmq-broker" --standalone --storePathRootDir="$WORK/store" --listenPort=$BP -n 127.0.0.1:$NS --shards=1 --flushDiskType=$F > "$WORK/broker.log" 2>&1 & BPID=$!; sleep 1.5
    taskset -c 1 timeout 120 "$BIN/rmq-bench" produce -n 127.0.0.1:$NS -t PerfT $PROD --flush $F > "$WORK/prod.log" 2>&1
    kill $BPID; wait $BPID 2>/dev/null
    echo "round $r broker $F: $(summary < "$WORK/prod.log")"
  done
done
rm -rf "$WORK/store"
"$BIN/rmq-broker" --standalone --storePathRootDir="$WORK/store" --listenPort=$BP -n 127.0.0.1:$NS > "$WORK/broker.log" 2>&1 & BPID=$!; sleep 1.5
timeout 300 "$BIN/rmq-bench" produce -n 127.0.0.1:$NS -t ConsT -s 1024 -c 2 -i 128 --mode async -m 1000000 --create-topic 8 > "$WORK/prod.log" 2>&1
echo "backlog produce (2 shards): $(summary < "$WORK/prod.log")"
timeout 300 "$BIN/rmq-bench" consume -n 127.0.0.1:$NS -t ConsT -g BacklogG --from-first -m 1000000 --idle-exit 10 > "$WORK/cons.log" 2>&1
echo "backlog $(grep '^consume:' "$WORK/cons.log")"
RATE=$(python3 -c "import json; print(int(json.loads(open('$WORK/prod.log').readlines()[-1])['tps']/2))")
timeout 120 "$BIN/rmq-bench" e2e -n 127.0.0.1:$NS -t E2eT -s 1024 -c 2 -i 128 --mode async --rate "$RATE" -d 15 -w 2 --create-topic 8 > "$WORK/e2e.log" 2>&1
echo "e2e at $RATE msg/s: $(tail -1 "$WORK/e2e.log")"
kill $BPID; wait $BPID 2>/dev/null
rm -rf "$WORK/store"
