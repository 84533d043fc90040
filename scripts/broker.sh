#!/usr/bin/env bash
# The Kafka-protocol broker the tests and benchmarks use: tansu 0.6.0 (Apache-2.0, Rust),
# built once into .tools/ of this checkout (a debug build takes ~5.5 min on 2 cores; the
# release build ~18 min is only worth it for benchmarks: `BROKER_PROFILE=release`).
#
#   scripts/broker.sh install           build .tools/bin/tansu unless it is there
#   scripts/broker.sh start PORT DIR    start a broker on 127.0.0.1:PORT storing in DIR; waits
#                                       until the port answers; prints its pid
#   scripts/broker.sh stop DIR          stop the broker started on DIR
#   scripts/broker.sh topic PORT NAME PARTITIONS   create a topic
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
TANSU="$TOOLS/bin/tansu"

case "${1:-}" in
  install)
    if [ -x "$TANSU" ]; then echo "tansu: $TANSU"; exit 0; fi
    profile=(--debug)
    [ "${BROKER_PROFILE:-debug}" = release ] && profile=()
    echo "building tansu 0.6.0 into $TOOLS (${BROKER_PROFILE:-debug}; several minutes)"
    cargo install tansu@0.6.0 --locked --no-default-features --features libsql "${profile[@]}" \
      --root "$TOOLS" --target-dir "$TOOLS/build" --quiet
    rm -rf "$TOOLS/build"
    echo "tansu: $TANSU"
    ;;
  start)
    port="$2"; dir="$3"
    mkdir -p "$dir"
    cd "$dir"
    nohup "$TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "sqlite://tansu.db" > broker.log 2>&1 &
    echo $! > broker.pid
    for _ in $(seq 1 200); do
      if (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null; then cat broker.pid; exit 0; fi
      sleep 0.05
    done
    echo "broker did not open 127.0.0.1:$port; log:" >&2; cat broker.log >&2; exit 1
    ;;
  stop)
    dir="$2"
    [ -f "$dir/broker.pid" ] && kill "$(cat "$dir/broker.pid")" 2>/dev/null || true
    ;;
  topic)
    "$TANSU" topic create --broker "tcp://127.0.0.1:$2" --partitions "$4" "$3"
    ;;
  *)
    sed -n 2,12p "$0"; exit 2
    ;;
esac
