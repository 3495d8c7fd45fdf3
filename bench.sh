#!/usr/bin/env bash
# Benchmarks the clone design against real OpenZFS in a VM; BENCHMARKS.md has
# the method and the numbers. Not part of the tests: it measures, it does not
# pass or fail on the targets.
#
#   sudo ./bench.sh           the full run (~16 min under emulation, alone):
#                             target/bench/results.{txt,json}
#   sudo ./bench.sh --quick   smaller trees and images, fewer repeats (~5 min):
#                             target/bench/results-quick.{txt,json}
#   sudo ./bench.sh --only builds|installs|scale
#                             one section (scale: on the largest tree only):
#                             target/bench/results[-quick]-SECTION.{txt,json}
#
# On the host it builds the installer and the driver in release mode and
# generates the inputs at native speed (system trees of 100 MiB and 1 GiB,
# images, a baseline; cached in target/bench/data). In the VM
# (vm-tests/run.sh --script vm-tests/bench-guest.sh) the driver measures and
# prints the table. Numbers taken while another VM runs on this machine are
# skewed: it warns if it sees one.
#
# Settings: OMICRON1_VM_MEMORY (default here 10G), OMICRON1_VM_POOL_SIZE (6G),
# OMICRON1_VM_TIMEOUT (5400 s), OMICRON1_VM_WORK (target/bench/vm),
# OMICRON1_BENCH_ARC_MAX (2 GiB), OMICRON1_BENCH_STAGE_SIZE (3g).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$top"

log() { printf 'bench: %s\n' "$*" >&2; }

quick= only= name=results
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=--quick name=$name-quick ;;
        --only)
            case "${2:-}" in builds | installs | scale) only=$2 ;; *) log "--only builds|installs|scale"; exit 2 ;; esac
            shift
            ;;
        *) log "usage: sudo ./bench.sh [--quick] [--only builds|installs|scale]"; exit 2 ;;
    esac
    shift
done
[ -z "$only" ] || name=$name-$only
[ "$(id -u)" = 0 ] || { log "must run as root (the VM harness installs what it needs)"; exit 1; }

if pgrep -f qemu-system >/dev/null 2>&1; then
    log "warning: another VM is running on this machine: the numbers will be skewed"
fi

log "building the installer and the driver (release)"
cargo build --release --quiet -p omicron1 -p omicron1-vm-tests --bin omicron1 --bin bench
rel=$top/target/release
out=$top/target/bench
data=$out/data
"$rel/bench" gen --data "$data" --bin "$rel/omicron1" $quick

# What the guest cannot see for itself; the driver puts it in the results.
cat >"$data/host.json" <<JSON
{"cores": "$(nproc)", "cpu": "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)",
 "memory_gib": "$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)",
 "accel": "qemu TCG (software emulation)", "command": "sudo ./bench.sh${quick:+ $quick}${only:+ --only $only}"}
JSON
# The guest finds the driver, the installer and the inputs under OMICRON1_TOP
# (the host's root is visible read-only); the kernel command line that carries
# the settings is short, so only the options go.
export OMICRON1_BENCH_ARGS="$quick${only:+ --only $only}"
export OMICRON1_VM_WORK=${OMICRON1_VM_WORK:-$out/vm}
export OMICRON1_VM_MEMORY=${OMICRON1_VM_MEMORY:-10G}
export OMICRON1_VM_POOL_SIZE=${OMICRON1_VM_POOL_SIZE:-6G}
export OMICRON1_VM_TIMEOUT=${OMICRON1_VM_TIMEOUT:-5400}

status=0
rm -rf "$OMICRON1_VM_WORK/bench"
vm-tests/run.sh --script vm-tests/bench-guest.sh || status=$?
# The guest writes into one folder per boot; the last one is this run's.
results=$(find "$OMICRON1_VM_WORK/bench" -mindepth 1 -maxdepth 1 -type d -name 'boot-*' 2>/dev/null | sort | tail -n 1)
if [ "$status" = 0 ] && [ -f "$results/results.txt" ]; then
    cp "$results/results.json" "$out/$name.json"
    cp "$results/results.txt" "$out/$name.txt"
    log "wrote $out/$name.txt and $out/$name.json"
else
    log "the benchmark failed (status $status); partial results, if any, are in $OMICRON1_VM_WORK/bench/boot-*"
    [ "$status" != 0 ] || status=1
fi
exit "$status"
