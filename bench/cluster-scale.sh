#!/usr/bin/env bash
# The cluster at scale, in one run (docs/benchmarks.md): 4 Herald nodes on one Postgres and a
# 3-server NATS cluster, a swarm of long-lived connections spread over them by several
# `herald-bench swarm` processes (public channels of SUBS_PER_CHANNEL subscribers, presence
# channels of PRESENCE_MEMBERS members), numbered publishes at RATE/s through every node. Then, under
# that load: kill -9 of node 1 (its clients resume on the others), node 1 started again, and a
# rolling restart of nodes 2-4 (SIGTERM, 4200, a new process). bench/cluster-scale-report.py turns
# what the run wrote into the report (deliveries, latency, CPU per delivery, RSS per connection,
# NATS bytes per publish, the storm, presence clean-up, lost and duplicated deliveries).
#
# Usage: bench/cluster-scale.sh [WORK_DIR]    (HERALD_BIN_DIR: where herald and herald-bench are)
# Scale: CONNECTIONS (56000) PROCS (4) PRESENCE_CHANNELS (200) PRESENCE_MEMBERS (20)
#        SUBS_PER_CHANNEL (50) RATE (100) STEADY (60) AFTER_KILL (45) ROLL_GAP (30) TAIL (30)
# One process may open 20,000 files here; after a kill three nodes hold all connections, so
# CONNECTIONS is at most about 3 × 19,000.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin="${HERALD_BIN_DIR:-${CARGO_TARGET_DIR:-$here/../target}/release}"
work="${1:-$(mktemp -d /tmp/herald-scale.XXXX)}"
mkdir -p "$work"
CONNECTIONS=${CONNECTIONS:-56000} PROCS=${PROCS:-4}
PRESENCE_CHANNELS=${PRESENCE_CHANNELS:-200} PRESENCE_MEMBERS=${PRESENCE_MEMBERS:-20}
SUBS_PER_CHANNEL=${SUBS_PER_CHANNEL:-50} RATE=${RATE:-100}
STEADY=${STEADY:-60} AFTER_KILL=${AFTER_KILL:-45} ROLL_GAP=${ROLL_GAP:-30} TAIL=${TAIL:-30}
members=$((PRESENCE_CHANNELS * PRESENCE_MEMBERS))
channels=$(((CONNECTIONS - members) / SUBS_PER_CHANNEL))
publish_seconds=$((STEADY + AFTER_KILL + 3 * ROLL_GAP + 20 + TAIL))
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
ulimit -n 20000

events="$work/events.log"
mark() { echo "$(date +%s%3N) $*" | tee -a "$events"; }
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for f in "$work"/node*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${HERALD_TEST_PG_DIR:-}" ] && "$here/../scripts/postgres-throwaway" stop "$HERALD_TEST_PG_DIR" || true
}
trap cleanup EXIT
: > "$events"

# Postgres and the NATS cluster (replicas 1: nats-server 2.9 keeps no stream metadata).
eval "$("$here/../scripts/postgres-throwaway")"
for i in 1 2 3; do
  routes=$(for j in 1 2 3; do if [ "$j" != "$i" ]; then printf 'nats://127.0.0.1:%s,' $((16300 + j)); fi; done)
  "$nats" -a 127.0.0.1 -p $((14300 + i)) -m $((18300 + i)) -js -sd "$work/nats-$i" -n "scale-nats-$i" \
    --cluster_name scale --cluster "nats://127.0.0.1:$((16300 + i))" --routes "${routes%,}" \
    > "$work/nats-$i.log" 2>&1 &
done
export HERALD_DATABASE_URL="$HERALD_TEST_PG_URL"
export HERALD_NATS_URL=nats://127.0.0.1:14301,nats://127.0.0.1:14302,nats://127.0.0.1:14303
export HERALD_MASTER_KEY=$(head -c 32 /dev/urandom | base64)
export HERALD_NATS_PREFIX=scale HERALD_LOG=warn HERALD_HISTORY_SIZE=1000
sleep 3
"$bin/herald" apps create --name scale --id 1 --key scale-key --secret scale-secret \
  --max-presence-members 100 --history-max-messages 1000 > "$work/app.json"

start_node() { # start_node N: node N on port 6800+N, its pid in nodeN.pid
  local n=$1 port=$((6800 + $1))
  mkdir -p "$work/node$n"
  "$bin/herald" serve --listen "127.0.0.1:$port" --data-dir "$work/node$n" >> "$work/node$n.log" 2>&1 &
  echo $! > "$work/node$n.pid"
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/readyz" > /dev/null || { echo "node $n not ready" >&2; tail "$work/node$n.log" >&2; exit 1; }
  mark "started node$n pid $(cat "$work/node$n.pid")"
}
for n in 1 2 3 4; do start_node "$n"; done
servers=127.0.0.1:6801,127.0.0.1:6802,127.0.0.1:6803,127.0.0.1:6804

python3 "$here/cluster-scale-report.py" sample "$work" &
sampler=$!

# The swarm: PROCS processes, each its share of the connections from its own source addresses.
per=$((CONNECTIONS / PROCS))
swarm=()
for p in $(seq 0 $((PROCS - 1))); do
  "$bin/herald-bench" --threads 1 swarm --servers "$servers" --key scale-key --secret scale-secret \
    --source-ips "127.0.$((p + 1)).1,127.0.$((p + 1)).2" --connections "$per" --first $((p * per)) \
    --channels "$channels" --presence-channels "$PRESENCE_CHANNELS" --presence-members "$PRESENCE_MEMBERS" \
    --seconds $((publish_seconds + 60)) --expect "$work/published.json" --drain 240 \
    > "$work/swarm-$p.log" 2> "$work/swarm-$p.err" &
  swarm+=($!)
done
mark "swarm: $CONNECTIONS connections ($PROCS processes), $channels public channels, $PRESENCE_CHANNELS presence channels of $PRESENCE_MEMBERS"
subscribed() { for p in $(seq 0 $((PROCS - 1))); do tail -n 1 "$work/swarm-$p.log" 2>/dev/null | jq -r '.counts.subscribed // 0'; done | awk '{s += $1} END {print s + 0}'; }
for _ in $(seq 600); do [ "$(subscribed)" -ge "$CONNECTIONS" ] && break; sleep 1; done
mark "subscribed: $(subscribed) of $CONNECTIONS"

"$bin/herald-bench" swarm-publish --servers "$servers" --app-id 1 --key scale-key --secret scale-secret \
  --channels "$channels" --rate "$RATE" --seconds "$publish_seconds" --out "$work/published.json" \
  > "$work/publisher.log" 2>&1 &
publisher=$!
mark "publishing: $RATE/s over $channels channels for $publish_seconds s"

sleep "$STEADY"
mark "kill -9 node1"
kill -9 "$(cat "$work/node1.pid")"
sleep "$AFTER_KILL"
start_node 1
sleep 20
for n in 2 3 4; do
  mark "SIGTERM node$n"
  kill -TERM "$(cat "$work/node$n.pid")"
  while kill -0 "$(cat "$work/node$n.pid")" 2>/dev/null; do sleep 0.2; done
  mark "node$n exited"
  start_node "$n"
  sleep "$ROLL_GAP"
done
wait "$publisher"
mark "publishing over"
for pid in "${swarm[@]}"; do wait "$pid" || true; done
mark "swarm over"
kill "$sampler" 2>/dev/null || true
python3 "$here/cluster-scale-report.py" report "$work" | tee "$work/report.json"
