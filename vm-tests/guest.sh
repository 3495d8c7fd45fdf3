#!/usr/bin/env bash
# Runs inside the VM (started by vm-tests/run.sh): loads the ZFS module, makes a
# file-backed pool `tp` mounted at /tmp/tp on the guest's own tmpfs, runs what it
# is given and writes the exit status to RESULTS/status for the host to read.
# The pool has overlay=off: Linux then refuses to mount a filesystem over a
# non-empty folder, as illumos always does.
#
#   guest.sh RESULTS tests EXE...   run each test executable, all of them even after a failure
#   guest.sh RESULTS script FILE    run FILE with bash
set -u
results=$1 mode=$2
shift 2
finish() { echo "$1" >"$results/status"; exit 0; }

modprobe zfs || { echo "guest: modprobe zfs failed"; finish 90; }
img=/tmp/omicron1-pool.img
truncate -s "${OMICRON1_VM_POOL_SIZE:-3G}" "$img"
zpool create -f -o cachefile=none -O mountpoint=/tmp/tp -O compression=off -O overlay=off tp "$img" \
    || { echo "guest: zpool create failed"; finish 91; }
export OMICRON1_TEST_POOL=tp OMICRON1_TEST_MOUNT=/tmp/tp RUST_BACKTRACE=0
echo "guest: ZFS $(cat /sys/module/zfs/version) on $(uname -r), pool tp at /tmp/tp"

rc=0
case "$mode" in
    tests)
        # Test binaries run side by side (most of their time is ZFS waiting
        # for transaction groups, not CPU), each into its own log, printed
        # whole in order once all are done so every closing line stays intact.
        logs=/tmp/omicron1-test-logs
        mkdir -p "$logs"
        running=0
        for exe in "$@"; do
            name=$(basename "$exe")
            ( "$exe" --test-threads="${OMICRON1_VM_TEST_THREADS:-2}" ${OMICRON1_VM_FILTER:-} >"$logs/$name.log" 2>&1
              echo $? >"$logs/$name.rc" ) &
            running=$((running + 1))
            if [ "$running" -ge "${OMICRON1_VM_PARALLEL:-3}" ]; then
                wait -n || true
                running=$((running - 1))
            fi
        done
        wait
        for exe in "$@"; do
            name=$(basename "$exe")
            echo "guest: $name"
            cat "$logs/$name.log"
            [ "$(cat "$logs/$name.rc" 2>/dev/null)" = 0 ] || { echo "guest: $name FAILED"; rc=1; }
        done
        ;;
    script)
        bash "$1" || rc=$?
        ;;
    *)
        echo "guest: unknown mode $mode"
        rc=92
        ;;
esac
finish "$rc"
