#!/usr/bin/env bash
# Nexmark q0-q8 (pipelines/nexmark/) on EVENTS generated events (default 10M, rate 0 = as fast
# as possible), 1 and 2 workers: events/s per query and peak RSS. Prints a markdown table.
# Knobs: EVENTS=10000000 WORKERS="1 2" QUERIES="0 1 ... 8"
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS=${EVENTS:-10000000}
WORKERS=${WORKERS:-"1 2"}
OUT=${OUT_DIR:-/tmp/sluice_nexmark_bench}; mkdir -p "$OUT"
cargo build --release --bin sluice -q
printf "| query |"; for w in $WORKERS; do printf " %s worker(s): s | events/s | peak RSS MiB |" "$w"; done; echo
printf "|---|"; for _ in $WORKERS; do printf -- "---|---|---|"; done; echo
for q in ${QUERIES:-0 1 2 3 4 5 6 7 8}; do
  printf "| q%s |" "$q"
  for w in $WORKERS; do
    /usr/bin/time -f "%e %M" -o "$OUT/time" env EVENTS="$EVENTS" OUT="$OUT/q$q.jsonl" \
      target/release/sluice run "pipelines/nexmark/q$q.sluice" --workers "$w" -q
    read -r wall rss < "$OUT/time"
    python3 -c "import sys; e,w,r=int(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]); print(f' {w:.2f} | {e/w:,.0f} | {r//1024} |', end='')" "$EVENTS" "$wall" "$rss"
  done
  echo
done
