#!/usr/bin/env bash
# The benchmark's part inside the VM (see bench.sh and BENCHMARKS.md). Runs with
# the pool `tp` at /tmp/tp ready (a file on the guest's tmpfs). bench.sh built
# the driver and the installer in release mode and generated the inputs under
# OMICRON1_TOP/target; OMICRON1_BENCH_ARGS holds the driver's options.
set -euo pipefail

# The pool's file lives in guest RAM: cap the ARC so that it, the pool's file
# and the staged trees fit, and give freed blocks back to RAM as they are freed.
echo "${OMICRON1_BENCH_ARC_MAX:-$((2 << 30))}" >/sys/module/zfs/parameters/zfs_arc_max
zpool set autotrim=on tp

# The system trees, images and installer are staged here (untimed) so no
# measured step reads the host's files through 9p, as a sled's ramdisk holds them.
stage=/tmp/bench-stage
mkdir -p "$stage"
mount -t tmpfs -o "size=${OMICRON1_BENCH_STAGE_SIZE:-3g}" bench-stage "$stage"

# The commands the measured steps run (the installer runs zfs; the baselines
# of comparison run cp, tar and gzip), and their libraries, are copied into
# RAM and bound over their paths: the guest's root is the host's through 9p
# with no cache, which adds ~25 ms to every start of a zfs process (measured:
# 151 ms against 125 ms for `zfs get`), where a sled runs them from its
# ramdisk.
bins=/tmp/bench-bins
mkdir -p "$bins"
mount -t tmpfs -o size=256m bench-bins "$bins"
for cmd in /usr/sbin/zfs /usr/sbin/zpool "$(command -v cp)" "$(command -v tar)" "$(command -v gzip)"; do
    for file in "$cmd" $(ldd "$cmd" | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}'); do
        real=$(readlink -f "$file")
        copy=$bins/$(printf '%s' "$real" | tr / _)
        [ -e "$copy" ] && continue
        cp "$real" "$copy"
        mount --bind "$copy" "$real"
    done
done
echo "bench-guest: $(ls "$bins" | wc -l) binaries and libraries staged in RAM"

echo "bench-guest: $(nproc) vCPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)," \
    "ZFS $(cat /sys/module/zfs/version), /tmp: $(df -h --output=size,avail /tmp | tail -n 1)"
# Beside run.sh's results folder, which a second boot empties: one folder per
# boot, so a boot that dies keeps its partial results (results.json is
# rewritten after each section).
out=$(dirname "$OMICRON1_VM_RESULTS")/bench/boot-$(date +%s)
rel=$OMICRON1_TOP/target/release
# shellcheck disable=SC2086 # OMICRON1_BENCH_ARGS is a list of options
"$rel/bench" run --data "$OMICRON1_TOP/target/bench/data" --bin "$rel/omicron1" \
    --stage "$stage" --out "$out" ${OMICRON1_BENCH_ARGS:-}
