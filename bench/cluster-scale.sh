#!/usr/bin/env bash
# The cluster at scale, in one run (docs/benchmarks.md): NODES Herald nodes on one Postgres and a
# 3-server NATS cluster, a swarm of long-lived connections spread over them by several
# `herald-bench swarm` processes (public channels of SUBS_PER_CHANNEL subscribers, presence
# channels of PRESENCE_MEMBERS members), numbered publishes at RATE/s through every node. Then, under
# that load: kill -9 of node 1 (its clients resume on the others), node 1 started again, and a
# rolling restart of nodes 2 to NODES (SIGTERM, 4200, a new process). bench/cluster-scale-report.py turns
# what the run wrote into the report (deliveries, latency, CPU per delivery, RSS per connection,
# NATS bytes per publish, the storm, presence clean-up, lost and duplicated deliveries).
# When sockudo 5.2 is installed (bench/sockudo.sh; SOCKUDO= skips it), the same run then stops
# Herald and measures the same fan-out part against NODES sockudo nodes on the same NATS cluster (its
# NATS adapter): the same swarm and publisher for STEADY + 15 s, without faults (sockudo has no
# resume); its report in WORK_DIR/sockudo/report.json.
# PARTS="herald sockudo" (the default) chooses the parts to run.
#
# Usage: bench/cluster-scale.sh [WORK_DIR]    (HERALD_BIN_DIR: where herald and herald-bench are)
# Scale: NODES (4) CONNECTIONS (56000) PROCS (4) PRESENCE_CHANNELS (200) PRESENCE_MEMBERS (20)
#        SUBS_PER_CHANNEL (50) RATE (100) STEADY (60) AFTER_KILL (45) ROLL_GAP (30) TAIL (30)
# One process may open 20,000 files here; after a kill NODES - 1 nodes hold all connections, so
# CONNECTIONS is at most about (NODES - 1) × 19,000 (60,000 takes NODES=5), and a swarm process
# holds CONNECTIONS / PROCS of them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/sockudo.sh"
bin="${HERALD_BIN_DIR:-${CARGO_TARGET_DIR:-$here/../target}/release}"
work="${1:-$(mktemp -d /tmp/herald-scale.XXXX)}"
mkdir -p "$work"
NODES=${NODES:-4} CONNECTIONS=${CONNECTIONS:-56000} PROCS=${PROCS:-4}
PRESENCE_CHANNELS=${PRESENCE_CHANNELS:-200} PRESENCE_MEMBERS=${PRESENCE_MEMBERS:-20}
SUBS_PER_CHANNEL=${SUBS_PER_CHANNEL:-50} RATE=${RATE:-100}
STEADY=${STEADY:-60} AFTER_KILL=${AFTER_KILL:-45} ROLL_GAP=${ROLL_GAP:-30} TAIL=${TAIL:-30}
members=$((PRESENCE_CHANNELS * PRESENCE_MEMBERS))
channels=$(((CONNECTIONS - members) / SUBS_PER_CHANNEL))
publish_seconds=$((STEADY + AFTER_KILL + (NODES - 1) * ROLL_GAP + 20 + TAIL))
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
ulimit -n 20000

events="$work/events.log"
mark() { echo "$(date +%s%3N) $*" | tee -a "$events"; }
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for f in "$work"/node*.pid "$work"/sockudo/node*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
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

start_node() { # start_node N [DIR]: a Herald node N on port 6800+N, its pid in DIR/nodeN.pid
  local n=$1 dir=${2:-$work} port=$((6800 + $1))
  mkdir -p "$dir/node$n"
  "$bin/herald" serve --listen "127.0.0.1:$port" --data-dir "$dir/node$n" >> "$dir/node$n.log" 2>&1 &
  echo $! > "$dir/node$n.pid"
  ready "$n" "$dir" -f "http://127.0.0.1:$port/readyz"
}
start_sockudo() { # start_sockudo N DIR: a sockudo node N on port 6800+N on the NATS cluster
  local n=$1 dir=$2 port=$((6800 + $1))
  mkdir -p "$dir/node$n"
  (cd "$dir/node$n" && sockudo_exec "$port" scale-key scale-secret "$HERALD_NATS_URL" scale-sockudo \
    >> "$dir/node$n.log" 2>&1) &
  echo $! > "$dir/node$n.pid"
  ready "$n" "$dir" "http://127.0.0.1:$port/"
}
ready() { # ready N DIR CURL_ARGS...: waits until node N answers as curl CURL_ARGS says
  local n=$1 dir=$2; shift 2
  for _ in $(seq 150); do curl -s -o /dev/null "$@" && break; sleep 0.2; done
  curl -s -o /dev/null "$@" || { echo "node $n not ready" >&2; tail "$dir/node$n.log" >&2; exit 1; }
  mark "started node$n pid $(cat "$dir/node$n.pid")"
}
servers=$(seq -s, -f '127.0.0.1:68%02g' "$NODES")

# swarm_up DIR SECONDS: the swarm, PROCS processes each with its share of the connections from its
# own source addresses, running SECONDS before waiting for DIR/published.json; their pids in $swarm.
swarm_up() {
  local dir=$1 seconds=$2 per=$((CONNECTIONS / PROCS))
  swarm=()
  for p in $(seq 0 $((PROCS - 1))); do
    "$bin/herald-bench" --threads 1 swarm --servers "$servers" --key scale-key --secret scale-secret \
      --source-ips "127.0.$((p + 1)).1,127.0.$((p + 1)).2" --connections "$per" --first $((p * per)) \
      --channels "$channels" --presence-channels "$PRESENCE_CHANNELS" --presence-members "$PRESENCE_MEMBERS" \
      --seconds "$seconds" --expect "$dir/published.json" --drain 240 \
      > "$dir/swarm-$p.log" 2> "$dir/swarm-$p.err" &
    swarm+=($!)
  done
  mark "swarm: $CONNECTIONS connections ($PROCS processes), $channels public channels, $PRESENCE_CHANNELS presence channels of $PRESENCE_MEMBERS"
  subscribed() { for p in $(seq 0 $((PROCS - 1))); do tail -n 1 "$dir/swarm-$p.log" 2>/dev/null | jq -r '.counts.subscribed // 0'; done | awk '{s += $1} END {print s + 0}'; }
  for _ in $(seq 600); do [ "$(subscribed)" -ge "$CONNECTIONS" ] && break; sleep 1; done
  mark "subscribed: $(subscribed) of $CONNECTIONS"
}
# publish DIR SECONDS: numbered publishes at RATE/s through every node; the pid in $publisher.
publish() {
  "$bin/herald-bench" swarm-publish --servers "$servers" --app-id 1 --key scale-key --secret scale-secret \
    --channels "$channels" --rate "$RATE" --seconds "$2" --out "$1/published.json" > "$1/publisher.log" 2>&1 &
  publisher=$!
  mark "publishing: $RATE/s over $channels channels for $2 s"
}
# finish DIR: waits for the publisher and the swarm, then writes DIR/report.json.
finish() {
  wait "$publisher"
  mark "publishing over"
  for pid in "${swarm[@]}"; do wait "$pid" || true; done
  mark "swarm over"
  kill "$sampler" 2>/dev/null || true
  python3 "$here/cluster-scale-report.py" report "$1" | tee "$1/report.json"
}

# The Herald part: steady load, kill -9 of node 1, its restart, a rolling restart of the others.
herald_part() {
  for n in $(seq "$NODES"); do start_node "$n"; done
  python3 "$here/cluster-scale-report.py" sample "$work" &
  sampler=$!
  swarm_up "$work" $((publish_seconds + 60))
  publish "$work" "$publish_seconds"
  sleep "$STEADY"
  mark "kill -9 node1"
  kill -9 "$(cat "$work/node1.pid")"
  sleep "$AFTER_KILL"
  start_node 1
  sleep 20
  for n in $(seq 2 "$NODES"); do
    mark "SIGTERM node$n"
    kill -TERM "$(cat "$work/node$n.pid")"
    while kill -0 "$(cat "$work/node$n.pid")" 2>/dev/null; do sleep 0.2; done
    mark "node$n exited"
    start_node "$n"
    sleep "$ROLL_GAP"
  done
  finish "$work"
  for f in "$work"/node*.pid; do kill -TERM "$(cat "$f")" 2>/dev/null || true; done
  for f in "$work"/node*.pid; do while kill -0 "$(cat "$f")" 2>/dev/null; do sleep 0.2; done; done
}

# The sockudo part: the same fan-out, steady only, in WORK_DIR/sockudo.
sockudo_part() {
  mkdir -p "$work/sockudo"
  events="$work/sockudo/events.log"
  : > "$events"
  for n in $(seq "$NODES"); do start_sockudo "$n" "$work/sockudo"; done
  python3 "$here/cluster-scale-report.py" sample "$work/sockudo" &
  sampler=$!
  swarm_up "$work/sockudo" $((STEADY + 15 + 30))
  publish "$work/sockudo" $((STEADY + 15))
  finish "$work/sockudo"
}

PARTS=${PARTS:-herald sockudo}
if [[ " $PARTS " == *" herald "* ]]; then herald_part; fi
if [[ " $PARTS " == *" sockudo "* && -x "$SOCKUDO" ]]; then sockudo_part; fi
