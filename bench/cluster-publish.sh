#!/usr/bin/env bash
# The cluster publish benchmark of docs/benchmarks.md: one Herald node and one nats-server with
# JetStream on this machine, `herald-bench publish` at 32 in flight to 1 and to 100 channels.
# Usage: bench/cluster-publish.sh [MESSAGES]   (HERALD_BIN_DIR: where herald and herald-bench are)
set -euo pipefail
bin="${HERALD_BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}"
messages="${1:-20000}"
work=$(mktemp -d)
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$nats" -js -sd "$work/js" -p 14222 >"$work/nats.log" 2>&1 &
sleep 0.5
"$bin/herald" apps create --data-dir "$work/h" --name bench --id 1 --key bench-key --secret bench-secret >/dev/null 2>&1
HERALD_LOG=error HERALD_NATS_URL=nats://127.0.0.1:14222 HERALD_NATS_PREFIX=bench \
  "$bin/herald" serve --data-dir "$work/h" --listen 127.0.0.1:6602 >"$work/herald.log" 2>&1 &
herald=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:6602/readyz >/dev/null && break; sleep 0.2; done
for channels in 1 100; do
  echo "channels=$channels"
  "$bin/herald-bench" publish --server 127.0.0.1:6602 --app-id 1 --key bench-key --secret bench-secret \
    --messages "$messages" --inflight 32 --channels "$channels" --pid "$herald"
done
