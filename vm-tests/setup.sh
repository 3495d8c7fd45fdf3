#!/usr/bin/env bash
# Install what the VM test suite needs on a Debian 12 host, only what is missing:
# Debian's `contrib` component (where ZFS lives), a Debian kernel with its headers,
# the ZFS module built by DKMS for that kernel, zfsutils, qemu, virtme-ng, and strace
# (the VM suite counts real zfs processes and mount calls with it).
#
# The DKMS build is the expensive part (~5 min on 2 cores); it lands in
# /lib/modules/<kver>/updates/dkms and later runs find it there and skip it.
# Prints the guest kernel's version on its last line.
set -euo pipefail

log() { printf 'vm-tests/setup: %s\n' "$*" >&2; }

# Package managers are chatty; their output goes to a log that is shown on failure.
apt_log=${OMICRON1_SETUP_LOG:-/tmp/omicron1-vm-setup.log}
quiet() {
    if ! "$@" >>"$apt_log" 2>&1; then
        log "failed: $* (last lines of $apt_log follow)"
        tail -n 40 "$apt_log" >&2
        exit 1
    fi
}

[ "$(id -u)" = 0 ] || { log "must run as root (installs packages)"; exit 1; }

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        quiet apt-get update
        apt_updated=1
    fi
}
apt_install() {
    apt_update
    quiet apt-get install -y --no-install-recommends "$@"
}

# 1. contrib, for zfs-dkms and zfsutils-linux.
sources=/etc/apt/sources.list.d/debian.sources
if [ -f "$sources" ] && ! grep -qE '^Components:.*\bcontrib\b' "$sources"; then
    log "adding contrib to $sources"
    sed -i -E 's/^(Components:.*\bmain\b)(.*)$/\1 contrib\2/' "$sources"
    apt_updated=0
fi

# 2. The guest kernel: the newest Debian kernel image under /boot.
newest_kernel() {
    find /boot -maxdepth 1 -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null \
        | sed 's/^vmlinuz-//' | sort -V | tail -n 1
}
kver=$(newest_kernel)
if [ -z "$kver" ]; then
    log "installing a Debian kernel for the guest"
    apt_install linux-image-amd64
    kver=$(newest_kernel)
fi
[ -n "$kver" ] || { log "no kernel under /boot after installing linux-image-amd64"; exit 1; }

# 3. Packages, each only when missing. Headers must be there before zfs-dkms so that
#    its postinst builds the module for the guest kernel.
missing=()
for pkg in "linux-headers-$kver" qemu-system-x86 zfsutils-linux zfs-dkms \
           busybox-static python3-pip kmod cpio strace; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]} (first run: the ZFS module build takes ~5 minutes)"
    apt_install "${missing[@]}"
fi

# 4. The ZFS module for the guest kernel. The package's postinst normally builds it;
#    build it here if that was skipped (e.g. headers were added later).
if ! find "/lib/modules/$kver" -name 'zfs.ko*' 2>/dev/null | grep -q .; then
    log "building the ZFS module for $kver with DKMS"
    quiet dkms autoinstall -k "$kver"
fi
find "/lib/modules/$kver" -name 'zfs.ko*' | grep -q . \
    || { log "no zfs module for $kver after the DKMS build"; exit 1; }

# 5. virtme-ng boots the kernel with the host root shared read-only.
if ! command -v vng >/dev/null 2>&1; then
    log "installing virtme-ng from PyPI"
    quiet pip3 install --root-user-action=ignore virtme-ng
fi
command -v vng >/dev/null 2>&1 || { log "vng not on PATH after installing virtme-ng"; exit 1; }

echo "$kver"
