#!/usr/bin/env bash
# Runs tests against real OpenZFS in a throwaway VM.
#
#   vm-tests/run.sh                 build and run every test of the vm-tests crate
#   vm-tests/run.sh --script FILE   run FILE (bash) in the VM with the pool ready (the demo,
#                                   the benchmarks)
#
# On a fresh Debian 12 machine, as root, it first installs what it needs
# (vm-tests/setup.sh; the ZFS module build takes ~5 minutes once). The VM runs
# the host's kernel-independent userland read-only under qemu's software
# emulation; its only writable host folder is the work folder,
# ${OMICRON1_VM_WORK:-target/vm}. Every boot has a time limit and is retried
# once if the guest never reports back (a rare hang under emulation).
#
# The guest gets the settings OMICRON1_DEMO_* and OMICRON1_BENCH_* (for the
# script), OMICRON1_VM_POOL_SIZE (the pool's size, default 3G) and
# OMICRON1_VM_FILTER (a test-name filter passed to every test binary). With
# OMICRON1_VM_ONLY="install kill", only those test binaries run. The VM has
# ${OMICRON1_VM_MEMORY:-6G} of memory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
work=${OMICRON1_VM_WORK:-$top/target/vm}
timeout_s=${OMICRON1_VM_TIMEOUT:-2400}
mkdir -p "$work"
work=$(cd "$work" && pwd)
export OMICRON1_SETUP_LOG=$work/setup.log

log() { printf 'vm-tests: %s\n' "$*" >&2; }

mode=tests
script=
if [ "${1:-}" = --script ]; then
    mode=script
    script=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
fi

kver=$("$here/setup.sh" | tail -n 1)
log "guest kernel $kver"

cd "$top"
cargo build --workspace --bins --quiet
bin_dir=$top/target/debug
guest_args=()
if [ "$mode" = tests ]; then
    log "building the VM test suite"
    mapfile -t exes < <(
        cargo test -p omicron1-vm-tests --no-run --message-format=json --quiet 2>/dev/null \
            | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])'
    )
    [ "${#exes[@]}" -gt 0 ] || { log "no test executables were built"; exit 1; }
    # OMICRON1_VM_ONLY="install kill" runs only those test binaries (a developer's
    # shortcut; CI runs them all).
    if [ -n "${OMICRON1_VM_ONLY:-}" ]; then
        chosen=()
        for exe in "${exes[@]}"; do
            name=$(basename "$exe"); name=${name%-*}
            for want in $OMICRON1_VM_ONLY; do
                [ "$name" = "$want" ] && chosen+=("$exe")
            done
        done
        [ "${#chosen[@]}" -gt 0 ] || { log "OMICRON1_VM_ONLY=$OMICRON1_VM_ONLY matched no test binary"; exit 1; }
        exes=("${chosen[@]}")
    fi
    guest_args=(tests "${exes[@]}")
else
    guest_args=(script "$script")
fi

boot() {
    rm -rf "$work/results"
    mkdir -p "$work/results"
    # OMICRON1_BIN tells tests and scripts which installer binary to run.
    local cmd
    cmd="export OMICRON1_BIN=$bin_dir/omicron1 OMICRON1_TOP=$top OMICRON1_VM_RESULTS=$work/results;"
    # The guest does not inherit the host's environment: pass the demo's and the
    # benchmark's settings, and the pool's size, on.
    local var
    for var in $(compgen -e | grep -E '^OMICRON1_(DEMO|BENCH)_|^OMICRON1_VM_(POOL_SIZE|FILTER)$' || true); do
        cmd+=" export $var=$(printf '%q' "${!var}");"
    done
    cmd+=" bash $here/guest.sh $work/results ${guest_args[*]}"
    # Through a pipe: qemu reopens a file given as stdout and truncates it.
    timeout --kill-after=15 "$timeout_s" \
        vng --disable-kvm -r "/boot/vmlinuz-$kver" --memory "${OMICRON1_VM_MEMORY:-6G}" --cpus 2 \
            --rwdir "$work" --qemu-opts="-device virtio-rng-pci" \
            --exec "$cmd" </dev/null 2>&1 | cat || true
    [ -f "$work/results/status" ]
}

started=$(date +%s)
if ! boot; then
    log "the guest did not report back within ${timeout_s}s; booting once more"
    boot || { log "the guest did not report back twice: giving up"; exit 1; }
fi
status=$(cat "$work/results/status")
log "guest finished with status $status after $(( $(date +%s) - started ))s"
exit "$status"
