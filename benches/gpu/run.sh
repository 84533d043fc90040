#!/usr/bin/env bash
# GPU kernels against the CPU path by batch size, and a whole pipeline (filter + haversine +
# partial aggregate over generated points) with --gpu on against --gpu off, in one invocation.
# Prints markdown tables (benches/README.md explains the columns) and checks that both
# pipeline runs give the same rows (floats within 1e-6 relative: haversine is f32 on the GPU).
#
# Knobs: SIZES=1024,16384,262144,1048576,4194304,16777216 REPS=3 EVENTS=50000000 WORKERS=2
#        DIR=/tmp/sluice_gpu_bench
#        BIN=(sluice binary) BENCH=(gpu_bench example binary): default cargo build --release;
#        give both on a machine without a Rust toolchain (the NVIDIA device machine, below).
# On a real NVIDIA GPU through the device tool (see /work/.library/device/README.md): build
# both binaries here, copy them into an ignored folder with the .gl/ loader debs, carry them,
# and run: for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig;
#   export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
#   BIN=carried/sluice BENCH=carried/gpu_bench bash benches/gpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DIR=${DIR:-/tmp/sluice_gpu_bench}
SIZES=${SIZES:-1024,16384,262144,1048576,4194304,16777216}
REPS=${REPS:-3}
EVENTS=${EVENTS:-50000000}
WORKERS=${WORKERS:-2}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"

if [ -z "${BIN:-}" ] || [ -z "${BENCH:-}" ]; then
  cargo build --release --bin sluice -q
  cargo build --release -p sluice-engine --example gpu_bench -q
  TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
  BIN=${BIN:-$TARGET/release/sluice}
  BENCH=${BENCH:-$TARGET/release/examples/gpu_bench}
fi
mkdir -p "$DIR"

echo "## Kernels by batch size ($(nproc) CPU threads)"
"$BENCH" --sizes "$SIZES" --reps "$REPS"

echo
echo "## Whole pipeline: $EVENTS generated points, $WORKERS workers"
sed "s/events = EVENTS/events = $EVENTS/" benches/gpu/pipeline.sluice > "$DIR/pipeline.sluice"
echo "| placement | wall s | points/s | peak RSS MiB |"
echo "|---|---|---|---|"
for mode in off on; do
  /usr/bin/time -f "%e %M" -o "$DIR/time-$mode" \
    "$BIN" run "$DIR/pipeline.sluice" --workers "$WORKERS" --gpu "$mode" -q \
    > "$DIR/out-$mode.csv" 2> "$DIR/err-$mode.txt" \
    || { echo "--gpu $mode failed:" >&2; cat "$DIR/err-$mode.txt" >&2; exit 1; }
  read -r wall rss < "$DIR/time-$mode"
  echo "| --gpu $mode | $wall | $(awk -v n="$EVENTS" -v w="$wall" 'BEGIN { printf "%.3e", n / w }') | $((rss / 1024)) |"
done
python3 - "$DIR/out-off.csv" "$DIR/out-on.csv" <<'PY'
import csv, math, sys
def rows(path):
    with open(path) as f:
        return sorted(csv.reader(f))
off, on = rows(sys.argv[1]), rows(sys.argv[2])
assert len(off) == len(on), f"{len(off)} rows with --gpu off, {len(on)} with --gpu on"
worst = 0.0
for a, b in zip(off, on):
    for x, y in zip(a, b):
        if x == y:
            continue
        fx, fy = float(x), float(y)
        rel = abs(fx - fy) / max(abs(fx), 1e-12)
        worst = max(worst, rel)
        assert rel <= 1e-6, f"{a} vs {b}"
print(f"\nOutputs: {len(off) - 1} groups, equal (largest relative difference {worst:.1e}).")
PY
