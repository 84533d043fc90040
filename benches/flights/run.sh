#!/usr/bin/env bash
# Sluice beside DuckDB and Polars on the peer workload (flights x10: 3.37M rows, 362 MiB), in
# one invocation: W1 (filter + project to JSON lines), a group-by aggregate, W2 (1-hour
# tumbling event-time windows per origin) and W3 (join with airports, count per time zone),
# 1 and 2 workers.
# Prints a markdown table (records/s, MB/s, peak RSS, ratios); outputs are checked against
# DuckDB. Knobs: PEERS=/tmp/peers REPS=3 SHARED=../shared
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
PEERS=${PEERS:-/tmp/peers}; export PEERS
REPS=${REPS:-3}
DATA=$PEERS/flights10.csv
OUT=$PEERS/out/sluice; mkdir -p "$OUT"

cargo build --release --bin sluice -q
BIN=$ROOT/target/release/sluice
"$SHARED/peers/install.sh" data duckdb polars >/dev/null
[ -f "$DATA" ] || "$PEERS/venv-data/bin/python" "$SHARED/peers/make_data.py" "$DATA" 10
ROWS=$(( $(wc -l < "$DATA") - 1 )); BYTES=$(stat -c %s "$DATA")
cat "$DATA" > /dev/null  # warm the page cache for everyone

# measure NAME CMD...: median wall seconds and max RSS (MiB) over REPS runs -> "$NAME wall rss"
measure() {
  local name=$1; shift
  local walls=() rss=0
  for _ in $(seq "$REPS"); do
    /usr/bin/time -f "%e %M" -o "$OUT/$name.time" "$@" > /dev/null 2> "$OUT/$name.err" \
      || { echo "$name failed: $(tail -3 "$OUT/$name.err")" >&2; exit 1; }
    local line; line=$(tail -1 "$OUT/$name.time")
    walls+=("${line%% *}"); local r=${line##* }; (( r > rss )) && rss=$r
  done
  local med
  med=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$name $med $((rss / 1024))"
}

results=()
# W1
results+=("$(measure sluice-w1-1 env FLIGHTS="$DATA" OUT="$OUT/w1.jsonl" "$BIN" run pipelines/flights_delayed.sluice --workers 1 --quiet)")
results+=("$(measure sluice-w1-2 env FLIGHTS="$DATA" OUT="$OUT/w1.jsonl" "$BIN" run pipelines/flights_delayed.sluice --workers 2 --quiet)")
results+=("$(measure duckdb-w1 "$PEERS/venv-duckdb/bin/python" "$SHARED/peers/peer_duckdb.py" w1 "$DATA" "$PEERS/airports.csv" "$OUT/duckdb_w1.jsonl")")
results+=("$(measure polars-w1 "$PEERS/venv-polars/bin/python" "$SHARED/peers/peer_polars.py" w1 "$DATA" "$PEERS/airports.csv" "$OUT/polars_w1.jsonl")")
# group-by aggregate
results+=("$(measure sluice-agg-1 env FLIGHTS="$DATA" OUT="$OUT/agg.csv" "$BIN" run pipelines/flights_by_origin.sluice --workers 1 --quiet)")
results+=("$(measure sluice-agg-2 env FLIGHTS="$DATA" OUT="$OUT/agg.csv" "$BIN" run pipelines/flights_by_origin.sluice --workers 2 --quiet)")
results+=("$(measure duckdb-agg "$PEERS/venv-duckdb/bin/python" benches/flights/groupby_peer.py duckdb "$DATA" "$OUT/duckdb_agg.csv")")
results+=("$(measure polars-agg "$PEERS/venv-polars/bin/python" benches/flights/groupby_peer.py polars "$DATA" "$OUT/polars_agg.csv")")

# W2: 1-hour tumbling windows per origin
results+=("$(measure sluice-w2-1 env FLIGHTS="$DATA" OUT="$OUT/w2.csv" "$BIN" run benches/flights/w2.sluice --workers 1 --quiet)")
results+=("$(measure sluice-w2-2 env FLIGHTS="$DATA" OUT="$OUT/w2.csv" "$BIN" run benches/flights/w2.sluice --workers 2 --quiet)")
results+=("$(measure duckdb-w2 "$PEERS/venv-duckdb/bin/python" "$SHARED/peers/peer_duckdb.py" w2 "$DATA" "$PEERS/airports.csv" "$OUT/duckdb_w2.csv")")
results+=("$(measure polars-w2 "$PEERS/venv-polars/bin/python" "$SHARED/peers/peer_polars.py" w2 "$DATA" "$PEERS/airports.csv" "$OUT/polars_w2.csv")")
# W3: lookup join with airports, count per time zone
results+=("$(measure sluice-w3-1 env FLIGHTS="$DATA" AIRPORTS="$PEERS/airports.csv" OUT="$OUT/w3.csv" "$BIN" run pipelines/flights_by_tzone.sluice --workers 1 --quiet)")
results+=("$(measure sluice-w3-2 env FLIGHTS="$DATA" AIRPORTS="$PEERS/airports.csv" OUT="$OUT/w3.csv" "$BIN" run pipelines/flights_by_tzone.sluice --workers 2 --quiet)")
results+=("$(measure duckdb-w3 "$PEERS/venv-duckdb/bin/python" "$SHARED/peers/peer_duckdb.py" w3 "$DATA" "$PEERS/airports.csv" "$OUT/duckdb_w3.csv")")
results+=("$(measure polars-w3 "$PEERS/venv-polars/bin/python" "$SHARED/peers/peer_polars.py" w3 "$DATA" "$PEERS/airports.csv" "$OUT/polars_w3.csv")")

# Correctness of what was timed: W1 with the peers' checker, the aggregate against DuckDB.
w1_check=$(python3 "$SHARED/peers/check.py" w1 "$OUT/duckdb_w1.jsonl" "$OUT/w1.jsonl" 2>&1 | tail -1)
w2_check=$(python3 "$SHARED/peers/check.py" w2 "$OUT/duckdb_w2.csv" "$OUT/w2.csv" 2>&1 | tail -1)
w3_check=$(python3 "$SHARED/peers/check.py" w3 "$OUT/duckdb_w3.csv" "$OUT/w3.csv" 2>&1 | tail -1)
agg_check=$("$PEERS/venv-duckdb/bin/python" - "$OUT/duckdb_agg.csv" "$OUT/agg.csv" <<'PY'
import csv, math, sys
load = lambda p: {(r["origin"], r["carrier"]): r for r in csv.DictReader(open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = [k for k in a if k not in b or any(
    not ((a[k][c] == "" and b[k][c] == "") or (a[k][c] != "" and b[k][c] != "" and
         math.isclose(float(a[k][c]), float(b[k][c]), rel_tol=1e-9)))
    for c in a[k] if c not in ("origin", "carrier"))]
print("OK" if not bad and len(a) == len(b) else f"MISMATCH {len(bad)} groups, {len(a)} vs {len(b)}")
PY
)

python3 - "$ROWS" "$BYTES" "$w1_check" "$agg_check" "$w2_check" "$w3_check" "${results[@]}" <<'PY'
import sys
rows, size, w1_check, agg_check = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
w2_check, w3_check = sys.argv[5], sys.argv[6]
res = {}
for line in sys.argv[7:]:
    name, wall, rss = line.split()
    res[name] = (float(wall), int(rss))
print(f"data: {rows:,} rows, {size / 2**20:.0f} MiB; median of runs")
print(f"checks against DuckDB: W1 {w1_check} | aggregate {agg_check} | W2 {w2_check} | W3 {w3_check}\n")
print("| workload | engine | wall s | records/s | MB/s | peak RSS MiB | time vs Polars | time vs DuckDB |")
print("|---|---|---|---|---|---|---|---|")
for w, label in (("w1", "W1 filter+project -> JSONL"), ("agg", "group-by aggregate -> CSV"),
                 ("w2", "W2 1h tumbling window per origin"), ("w3", "W3 join airports, count per tzone")):
    names = [f"sluice-{w}-1", f"sluice-{w}-2", f"duckdb-{w}", f"polars-{w}"]
    for n in names:
        wall, rss = res[n]
        engine = {"sluice-%s-1" % w: "Sluice, 1 worker", "sluice-%s-2" % w: "Sluice, 2 workers",
                  "duckdb-%s" % w: "DuckDB (2 threads)", "polars-%s" % w: "Polars streaming"}[n]
        print(f"| {label} | {engine} | {wall:.2f} | {rows / wall:,.0f} | {size / 1e6 / wall:.0f} | {rss} | "
              f"{wall / res[f'polars-{w}'][0]:.2f}x | {wall / res[f'duckdb-{w}'][0]:.2f}x |")
PY
