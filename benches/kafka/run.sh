#!/usr/bin/env bash
# Kafka -> where/window -> Kafka on loopback against tansu (scripts/broker.sh), beside the
# broker alone. Knobs: N=1000000 DURATION=15. Needs the test venv (.venv, scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/broker.sh install
cargo build --release --bin sluice -q
.venv/bin/python benches/kafka/bench.py "$PWD/target/release/sluice" "$PWD/.tools/bin/tansu" "${N:-1000000}" "${DURATION:-15}"
