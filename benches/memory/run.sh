#!/usr/bin/env bash
# Peak RSS of a 1-minute tumbling window over 10M, 25M and 50M generated events (2 workers):
# with windows closed and freed as the watermark passes them, RSS must not grow with input
# length. Prints a markdown table. Knobs: WORKERS=2 SIZES="10000000 25000000 50000000"
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=${WORKERS:-2}
SIZES=${SIZES:-"10000000 25000000 50000000"}
OUT=${OUT_DIR:-/tmp/sluice_memory_bench}; mkdir -p "$OUT"
cargo build --release --bin sluice -q
echo "| events | wall s | events/s | peak RSS MiB | windows emitted |"
echo "|---|---|---|---|---|"
for n in $SIZES; do
  sed "s/events = 10000000/events = $n/" benches/memory/window.sluice > "$OUT/window_$n.sluice"
  /usr/bin/time -f "%e %M" -o "$OUT/time_$n" env OUT="$OUT/out_$n.csv" \
    target/release/sluice run "$OUT/window_$n.sluice" --workers "$WORKERS" -q --summary-json "$OUT/summary_$n.json"
  read -r wall rss < "$OUT/time_$n"
  rows=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['sinks'][0]['records'])" "$OUT/summary_$n.json")
  python3 -c "import sys; n,w,r,rows=int(sys.argv[1]),float(sys.argv[2]),int(sys.argv[3]),sys.argv[4]; print(f'| {n:,} | {w:.1f} | {n/w:,.0f} | {r//1024} | {int(rows):,} |')" "$n" "$wall" "$rss" "$rows"
done
