#!/usr/bin/env bash
# A/B benchmark: two sluice binaries on the same work in ONE invocation, so a refactoring can
# show "within noise before and after" with figures from a single run on a single machine state.
# Workloads (each --workers 1 and 2, --quiet): the flights ones of benches/flights/run.sh (W1,
# group-by aggregate, W2 windows, W3 join) on $PEERS/flights10.csv, and Nexmark q0-q8
# (pipelines/nexmark/) as benches/nexmark/run.sh runs them. Each rep runs before and after
# back to back, alternating who goes first, so drift on a shared machine hits both equally.
# Wall time and peak RSS from GNU time; every run's output is hashed sorted (a multiset), and
# all runs of a row, before and after, must agree (OK/DIFF; exit 1 if any DIFF or failure).
# Prints a markdown table: medians, min-max, after/before ratio, RSS, check; geomean of ratios.
# Usage: BEFORE=/work/before/sluice [AFTER=target/release/sluice] bash benches/ab/run.sh
# Knobs: REPS=5 ONLY=<regex on workload name, e.g. 'flights' or 'q[0-3]$'> EVENTS=1000000
#        (Nexmark events; benches/nexmark/run.sh uses 10M, q4/q6 then take minutes a run)
#        PEERS=/tmp/peers SHARED=../shared OUT_DIR=/tmp/sluice_ab. Builds nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SHARED=${SHARED:-$ROOT/../shared}
PEERS=${PEERS:-/tmp/peers}; export PEERS
REPS=${REPS:-5}
ONLY=${ONLY:-}
EVENTS=${EVENTS:-1000000}
DATA=$PEERS/flights10.csv
OUT=${OUT_DIR:-/tmp/sluice_ab}; mkdir -p "$OUT"
: "${BEFORE:?set BEFORE=/path/to/the/baseline/sluice}"
AFTER=${AFTER:-$ROOT/target/release/sluice}
for b in "$BEFORE" "$AFTER"; do
  [ -x "$b" ] || { echo "ab: no executable sluice binary at $b (this script builds nothing;" \
    "for AFTER run: cargo build --release --bin sluice)" >&2; exit 1; }
done
BEFORE=$(realpath "$BEFORE"); AFTER=$(realpath "$AFTER")
/usr/bin/time -f "%e" true 2>/dev/null || { echo "ab: GNU time missing (/usr/bin/time)" >&2; exit 1; }

# Workloads: "name|pipeline|env assignments" (OUT is added per run).
workloads=()
if [ -z "$ONLY" ] || printf 'flights-w1\nflights-agg\nflights-w2\nflights-w3\n' | grep -qE "$ONLY"; then
  if [ ! -f "$DATA" ]; then
    echo "ab: $DATA missing, generating it (../shared/peers: install.sh data, make_data.py)" >&2
    { "$SHARED/peers/install.sh" data >/dev/null &&
      "$PEERS/venv-data/bin/python" "$SHARED/peers/make_data.py" "$DATA" 10 >/dev/null; } ||
      rm -f "$DATA"
  fi
  if [ -f "$DATA" ]; then
    cat "$DATA" > /dev/null  # warm the page cache for both sides
    F="FLIGHTS=$DATA"
    workloads+=("flights-w1|pipelines/flights_delayed.sluice|$F"
                "flights-agg|pipelines/flights_by_origin.sluice|$F"
                "flights-w2|benches/flights/w2.sluice|$F"
                "flights-w3|pipelines/flights_by_tzone.sluice|$F AIRPORTS=$PEERS/airports.csv")
  else
    echo "########################################################################" >&2
    echo "ab: WARNING: $DATA could not be made: SKIPPING the flights workloads" >&2
    echo "########################################################################" >&2
    SKIPPED="flights workloads SKIPPED: $DATA missing and could not be generated"
  fi
fi
for q in 0 1 2 3 4 5 6 7 8; do
  workloads+=("nexmark-q$q|pipelines/nexmark/q$q.sluice|EVENTS=$EVENTS")
done

RES=$OUT/results.tsv; : > "$RES"   # name workers side rep wall rss hash
# run1 NAME W SIDE REP BIN PIPELINE ENV...: one timed run, then hash its output sorted
run1() {
  local name=$1 w=$2 side=$3 rep=$4 bin=$5 pipe=$6; shift 6
  local o=$OUT/$name-w$w-$side.out t=$OUT/$name-w$w-$side.time e=$OUT/$name-w$w-$side.err
  rm -f "$o"
  if /usr/bin/time -f "%e %M" -o "$t" env "$@" OUT="$o" "$bin" run "$pipe" --workers "$w" --quiet \
       > /dev/null 2> "$e"; then
    local wall rss h; read -r wall rss < <(tail -1 "$t")
    h=NO-OUTPUT; [ -f "$o" ] && h=$(LC_ALL=C sort -S 20% -T "$OUT" "$o" | sha256sum | cut -c1-16)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$w" "$side" "$rep" "$wall" "$rss" "$h" >> "$RES"
  else
    echo "ab: $name --workers $w ($side) FAILED: $(tail -3 "$e")" >&2
    printf '%s\t%s\t%s\t%s\tnan\t0\tFAILED\n' "$name" "$w" "$side" "$rep" >> "$RES"
  fi
}

start=$(date +%s); load0=$(cut -d' ' -f1-3 /proc/loadavg)
for wl in "${workloads[@]}"; do
  IFS='|' read -r name pipe envs <<< "$wl"
  [ -n "$ONLY" ] && ! grep -qE "$ONLY" <<< "$name" && continue
  read -ra envv <<< "$envs"
  for w in 1 2; do
    echo "ab: $name --workers $w x $REPS" >&2
    for rep in $(seq "$REPS"); do
      if (( rep % 2 )); then order=(before after); else order=(after before); fi
      for side in "${order[@]}"; do
        bin=$BEFORE; [ "$side" = after ] && bin=$AFTER
        run1 "$name" "$w" "$side" "$rep" "$bin" "$pipe" "${envv[@]}"
      done
    done
  done
done

echo "## A/B: before vs after, $(date -u '+%Y-%m-%d %H:%M UTC'), $(( $(date +%s) - start )) s"
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
  "$(free -g | awk '/^Mem:/ {print $2}') GiB; load avg at start: $load0"
echo "before: $BEFORE ($(sha256sum "$BEFORE" | cut -c1-12))"
echo "after:  $AFTER ($(sha256sum "$AFTER" | cut -c1-12))"
echo "reps: $REPS (interleaved, order alternating); flights: $DATA; Nexmark: $EVENTS events"
[ -n "${SKIPPED:-}" ] && echo "**${SKIPPED}**"
echo
python3 - "$RES" <<'PY'
import csv, math, statistics as st, sys
rows = {}
for name, w, side, rep, wall, rss, h in csv.reader(open(sys.argv[1]), delimiter="\t"):
    r = rows.setdefault((name, int(w)), {"before": [], "after": []})
    r[side].append((float(wall), int(rss), h))
print("| workload | workers | before median s | after median s | after/before | before min-max s "
      "| after min-max s | RSS before/after MiB | output |")
print("|---|---|---|---|---|---|---|---|---|")
ratios, bad = [], 0
for (name, w), r in rows.items():
    b = [x[0] for x in r["before"] if not math.isnan(x[0])]
    a = [x[0] for x in r["after"] if not math.isnan(x[0])]
    hashes = {x[2] for x in r["before"] + r["after"]}
    if "FAILED" in hashes:
        check = "FAILED " + "/".join(s for s in ("before", "after") if any(x[2] == "FAILED" for x in r[s]))
    elif len(hashes) == 1:
        check = "OK"
    else:
        hb, ha = {x[2] for x in r["before"]}, {x[2] for x in r["after"]}
        check = "DIFF" + (" (before varies run to run)" if len(hb) > 1 else "") + \
                (" (after varies run to run)" if len(ha) > 1 else "")
    bad += check != "OK"
    med = lambda v: f"{st.median(v):.2f}" if v else "-"
    mm = lambda v: f"{min(v):.2f}-{max(v):.2f}" if v else "-"
    ratio = st.median(a) / st.median(b) if a and b and st.median(b) > 0 else None
    if ratio: ratios.append(ratio)
    rss = lambda s: max(x[1] for x in r[s]) // 1024
    print(f"| {name} | {w} | {med(b)} | {med(a)} | {f'{ratio:.3f}' if ratio else '-'} | {mm(b)} | "
          f"{mm(a)} | {rss('before')}/{rss('after')} | {check} |")
if ratios:
    g = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"\ngeometric mean of after/before over {len(ratios)} rows: {g:.3f}"
          f" (min {min(ratios):.3f}, max {max(ratios):.3f})")
print(f"output checks: {'all OK' if not bad else f'{bad} row(s) not OK'}")
sys.exit(1 if bad else 0)
PY
