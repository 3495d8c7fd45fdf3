#!/usr/bin/env bash
# The demo: in a throwaway VM with real OpenZFS, build a baseline from the VM's
# own /etc and /var, build a template from a minimal Debian system tree, install
# several zones from sample images, run a program from an image inside a zone
# root, and show `zfs list` and how long each install took.
#
# On a fresh Debian 12 machine, as root. The first run installs what it needs
# (the VM tools and ZFS module, ~6 minutes; debootstrap of a minimal Debian,
# ~3 minutes, cached under target/demo); later runs take 2-3 minutes.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${OMICRON1_DEMO_CACHE:-$top/target/demo}
rootfs=$cache/debian-rootfs

log() { printf 'demo: %s\n' "$*" >&2; }
mkdir -p "$cache"

if [ ! -f "$rootfs/.complete" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >"$cache/apt.log" 2>&1 \
            || { apt-get update -qq >>"$cache/apt.log" 2>&1; \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >>"$cache/apt.log" 2>&1; }
    fi
    log "making a minimal Debian system tree with debootstrap (once; cached in $rootfs)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$cache/debootstrap.log" 2>&1 || { tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
    touch "$rootfs/.complete"
fi
log "system tree: $rootfs ($(du -sh "$rootfs" 2>/dev/null | cut -f1))"

# The demo shows timings: run the installer as it ships, a release build
# (run.sh builds the debug one the tests use).
log "building the installer (release)"
(cd "$top" && cargo build --release --quiet --bin omicron1)
export OMICRON1_DEMO_BIN=$top/target/release/omicron1
export OMICRON1_DEMO_ROOTFS=$rootfs
exec "$top/vm-tests/run.sh" --script "$top/vm-tests/demo-guest.sh"
