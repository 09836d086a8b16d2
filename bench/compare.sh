#!/usr/bin/env bash
# Runs every load scenario against Herald and sockudo on this machine, the two servers taking turns
# (RUNS rounds), and writes one JSON line per run to $OUT/results.jsonl; bench/summarize.py turns it
# into the tables of docs/benchmarks.md.
#
# Needs: herald and herald-bench built (cargo build --release -p herald -p herald-bench), sockudo 5.2
# (bench/sockudo.sh says how), and nats-server for the cross-node scenarios.
#
#   bench/compare.sh                       # every scenario, 3 rounds
#   SCENARIOS="saturation latency" RUNS=5 bench/compare.sh
#   SERVERS=herald SCENARIOS=cross-latency RUNS=1 bench/compare.sh
#   TOOL_THREADS=1 SCENARIOS=latency bench/compare.sh   # the load tool's runtime on one thread
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release"
. bench/sockudo.sh
NATS_SERVER="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
RUNS="${RUNS:-3}"
SCENARIOS="${SCENARIOS:-saturation latency publish idle cross-saturation cross-latency}"
SERVERS="${SERVERS:-herald sockudo}" # SERVERS=herald measures Herald alone (no sockudo installed)
TOOL_THREADS="${TOOL_THREADS:-2}" # the load tool's runtime threads (its socket readers have their own)
OUT="${OUT:-$(mktemp -d /tmp/herald-compare.XXXXXX)}"
APP=(--app-id 1 --key bench-key --secret bench-secret)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
mkdir -p "$OUT"
echo "results in $OUT" >&2

wait_port() { for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

# herald PORT [NATS_URL PREFIX]: one Herald node with the bench app on a fresh data directory; its
# pid in $STARTED.
herald() {
  local dir; dir=$(mktemp -d "$OUT/herald.XXXX")
  "$BIN/herald" apps create --data-dir "$dir" --name bench --id 1 --key bench-key --secret bench-secret >/dev/null
  env ${2:+HERALD_NATS_URL=$2 HERALD_NATS_PREFIX=$3} \
    "$BIN/herald" serve --data-dir "$dir" --listen "127.0.0.1:$1" >"$dir/log" 2>&1 &
  STARTED=$!; PIDS+=("$STARTED"); wait_port "$1"; sleep 1
}

# sockudo PORT [NATS_URL PREFIX]: one sockudo node with the same app (bench/sockudo.sh); its pid in
# $STARTED.
sockudo() {
  local dir; dir=$(mktemp -d "$OUT/sockudo.XXXX")
  (cd "$dir" && sockudo_exec "$1" bench-key bench-secret "${2:-}" "${3:-}" >"$dir/log" 2>&1) &
  STARTED=$!; PIDS+=("$STARTED"); wait_port "$1"; sleep 1
}

# stop PID...: SIGTERM, then waits until they are gone (sockudo drains for a while), SIGKILL after 15 s.
stop() {
  kill "$@" 2>/dev/null || true
  for _ in $(seq 150); do
    local alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return
    sleep 0.1
  done
  kill -9 "$@" 2>/dev/null || true
  sleep 0.5
}

# run SERVER SCENARIO ARGS...: one run of herald-bench, its JSON line tagged with server and scenario.
run() {
  local server=$1 scenario=$2; shift 2
  "$BIN/herald-bench" --json --threads "$TOOL_THREADS" "$@" | python3 -c 'import json,sys
r = json.loads(sys.stdin.read()); r["server"] = sys.argv[1]; r["name"] = sys.argv[2]; print(json.dumps(r))' "$server" "$scenario" \
    | tee -a "$OUT/results.jsonl"
}

single() {
  local scenario=$1; shift
  for round in $(seq "$RUNS"); do
    for server in $SERVERS; do
      local port=6601; [ "$server" = sockudo ] && port=6602
      "$server" $port; local pid=$STARTED
      run "$server" "$scenario" "$@" --server 127.0.0.1:$port "${APP[@]}" --pid "$pid"
      stop "$pid"
    done
  done
}

cross() {
  local scenario=$1; shift
  local nats_dir; nats_dir=$(mktemp -d "$OUT/nats.XXXX")
  "$NATS_SERVER" -a 127.0.0.1 -p 6622 -js -sd "$nats_dir" >"$nats_dir/log" 2>&1 &
  local nats=$!; PIDS+=($nats); wait_port 6622
  for round in $(seq "$RUNS"); do
    for server in $SERVERS; do
      local port=6611; [ "$server" = sockudo ] && port=6613
      "$server" $port nats://127.0.0.1:6622 "bench$round$server"; local a=$STARTED
      "$server" $((port + 1)) nats://127.0.0.1:6622 "bench$round$server"; local b=$STARTED
      sleep 2 # the nodes find each other
      run "$server" "$scenario" "$@" --server 127.0.0.1:$port --publish-server 127.0.0.1:$((port + 1)) "${APP[@]}" --pid "$a,$b"
      stop "$a" "$b"
    done
  done
  stop "$nats"
}

for scenario in $SCENARIOS; do
  case $scenario in
    saturation) single saturation fanout --subscribers 1000 --channels 1 --messages 4000 --inflight 16 ;;
    latency) single latency fanout --subscribers 1000 --channels 10 --messages 1000 --rate 50 --spread ;;
    publish) single publish publish --messages 20000 --inflight 16 ;;
    idle) single idle idle --connections 10000 --hold 20 --source-ips 127.0.0.1,127.0.0.2 ;;
    cross-saturation) cross cross-saturation fanout --subscribers 1000 --channels 1 --messages 4000 --inflight 16 ;;
    cross-latency) cross cross-latency fanout --subscribers 1000 --channels 10 --messages 1000 --rate 50 --spread ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
done
python3 bench/summarize.py "$OUT/results.jsonl"
