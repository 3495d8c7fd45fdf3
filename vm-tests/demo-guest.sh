#!/usr/bin/env bash
# The demo's part inside the VM (see demo.sh). Runs with the pool `tp` at
# /tmp/tp ready, OMICRON1_DEMO_BIN (else OMICRON1_BIN) set to the installer, and
# OMICRON1_DEMO_ROOTFS set to the minimal Debian tree that plays the global
# zone's /usr, /lib and /sbin.
set -euo pipefail
bin=${OMICRON1_DEMO_BIN:-$OMICRON1_BIN}
rootfs=$OMICRON1_DEMO_ROOTFS
work=/tmp/demo
mkdir -p "$work/images" "$work/run" "$work/zones"

say() { printf '\n=== %s\n' "$*"; }
now_ms() { date +%s%3N; }

export OMICRON1_SOURCE_ROOT=$rootfs
export OMICRON1_BASELINE_DIR=$work/baseline
export OMICRON1_RUN_DIR=$work/run
export OMICRON1_ZONES_DIR=$work/zones

say "baseline from this VM's own /etc and /var"
# bin and lib64 are this VM's merged-/usr symlinks, which programs in the zone need.
printf '%s\n' etc var/lib/dpkg var/spool var/mail var/opt bin lib64 >"$work/include"
printf '%s\n' etc/fstab etc/hostname >"$work/gzonly"
"$bin" baseline create --root / --include "$work/include" --gzonly "$work/gzonly" --output "$work/baseline"
ls -l "$work/baseline"

say "sample images (gzip tar, oxide.json first, files under root/)"
make_image() { # name version dir-with-root
    local name=$1 version=$2 src=$3
    printf '{"v":"1","t":"layer","pkg":"%s","version":"%s"}' "$name" "$version" >"$src/oxide.json"
    tar -C "$src" -czf "$work/images/$name.tar.gz" oxide.json root
    echo "$work/images/$name.tar.gz: $(tar -tzf "$work/images/$name.tar.gz" | wc -l) entries"
}
mkdir -p "$work/src/hello/root/opt/oxide/hello/bin" "$work/src/hello/root/var/svc/manifest/site"
cat >"$work/src/hello/root/opt/oxide/hello/bin/hello" <<'SCRIPT'
#!/bin/sh
echo "hello from an omicron1 zone ($(uname -s)); its /etc/motd says: $(head -n 1 /etc/motd)"
SCRIPT
chmod 0755 "$work/src/hello/root/opt/oxide/hello/bin/hello"
echo '<service_bundle type="manifest" name="hello"/>' >"$work/src/hello/root/var/svc/manifest/site/hello.xml"
make_image hello 1.0.0 "$work/src/hello"
mkdir -p "$work/src/motd/root/etc"
echo "Welcome to a zone installed from a template clone." >"$work/src/motd/root/etc/motd"
make_image motd 2.1.0 "$work/src/motd"
mkdir -p "$work/src/data/root/opt/oxide/data"
head -c 5000000 /dev/urandom >"$work/src/data/root/opt/oxide/data/blob"
make_image data 0.3.0 "$work/src/data"

zone_parent=tp/demo/zone
zfs create -p "$zone_parent"
declare -A took
install_zone() { # zone images...
    local zone=$1; shift
    zfs create "$zone_parent/$zone"
    local start; start=$(now_ms)
    "$bin" -z "$zone" -R "/tmp/tp/demo/zone/$zone" install "$@"
    took[$zone]=$(( $(now_ms) - start ))
}

say "zone 1: builds this boot's template, then clones it"
install_zone oxz_hello "$work/images/hello.tar.gz" "$work/images/motd.tar.gz"
say "zones 2-4: clone the template"
install_zone oxz_motd "$work/images/motd.tar.gz"
install_zone oxz_data "$work/images/data.tar.gz"
install_zone oxz_both "$work/images/hello.tar.gz" "$work/images/data.tar.gz"

say "for contrast: the original brand's method (copy), zonepath not on ZFS"
mkdir -p /tmp/copyzone
start=$(now_ms)
"$bin" -z oxz_copy -R /tmp/copyzone install "$work/images/hello.tar.gz" 2>&1 | tail -n 3
took[oxz_copy_not_zfs]=$(( $(now_ms) - start ))

say "running the image's program inside zone oxz_hello (chroot, /system/* bound read-only as platform.xml mounts them)"
zroot=/tmp/tp/demo/zone/oxz_hello/root
for t in usr lib sbin; do
    mkdir -p "$zroot/system/$t"
    src=$rootfs/$t
    [ -L "$src" ] && src=$rootfs/$(readlink "$src")
    mount --bind "$src" "$zroot/system/$t"
    mount -o remount,bind,ro "$zroot/system/$t"
done
ls -l "$zroot/usr/bin/sh" "$zroot/bin"
chroot "$zroot" /opt/oxide/hello/bin/hello
for t in usr lib sbin; do umount "$zroot/system/$t"; done

say "zfs list: the template (at the pool's root: tp is not encrypted) and the zones, each its zonepath dataset cloned from it"
zfs list -r -o name,used,refer,origin,mountpoint tp/omicron1-templates "$zone_parent"
say "what each zone dataset records"
zfs get -H -o name,property,value -s local all "$zone_parent/oxz_both" | grep omicron1: | grep -v omicron1:zonepath

say "install times"
printf '%-22s %8s\n' zone msec
for zone in oxz_hello oxz_motd oxz_data oxz_both oxz_copy_not_zfs; do
    printf '%-22s %8s\n' "$zone" "${took[$zone]}"
done
