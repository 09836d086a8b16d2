# Sourced by the bench scripts: how they run sockudo 5.2 (SOCKUDO, else sockudo on PATH or
# /opt/sockudo/bin/sockudo; install: protobuf-compiler, then
# `cargo install sockudo --version 5.2.0 --locked --features nats`).
#
# sockudo_exec PORT KEY SECRET [NATS_URL PREFIX]: execs one sockudo node on 127.0.0.1:PORT with app
# 1 (KEY, SECRET), on the NATS cluster NATS_URL when given (its NATS adapter; idempotency off, as
# it needs a Redis cache there). Its limits are raised so they are not what is measured; it logs at
# warn, as Herald does in these runs; no per-app connection quota (with one, a clustered sockudo asks
# every other node for the app's count on each connection: in a 60,000-connection run 40,000
# handshakes timed out and subscribing everyone took 113 s).
SOCKUDO="${SOCKUDO-$(command -v sockudo || echo /opt/sockudo/bin/sockudo)}"
sockudo_exec() {
  exec env PORT="$1" HOST=127.0.0.1 METRICS_ENABLED=false RATE_LIMITER_ENABLED=false RUST_LOG=warn \
    SOCKUDO_DEFAULT_APP_ID=1 SOCKUDO_DEFAULT_APP_KEY="$2" SOCKUDO_DEFAULT_APP_SECRET="$3" \
    SOCKUDO_DEFAULT_APP_MAX_CONNECTIONS=0 SOCKUDO_MAX_CONNECTIONS=100000 \
    SOCKUDO_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SECOND=1000000 \
    SOCKUDO_DEFAULT_APP_MAX_READ_REQUESTS_PER_SECOND=1000000 \
    ${4:+ADAPTER_DRIVER=nats NATS_SERVERS=$4 NATS_PREFIX=$5 IDEMPOTENCY_ENABLED=false} \
    "$SOCKUDO"
}
