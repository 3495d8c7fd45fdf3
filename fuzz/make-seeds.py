#!/usr/bin/env python3
"""Writes starting inputs for the fuzz targets into fuzz/corpus/<target>/ (kept
out of git): small valid layer images in each header format, so that the
fuzzer starts from archives the reader accepts rather than from nothing."""
import gzip
import io
import os
import tarfile

here = os.path.dirname(os.path.abspath(__file__))


def tar_bytes(fmt, entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1500000000
            data = None
            if kind == "file":
                data = extra
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = extra
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = extra
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


LAYER = b'{"v":"1","t":"layer","pkg":"seed","version":"1.0"}'
long_name = "root/opt/" + "d" * 120 + "/" + "f" * 130
seeds = {
    "plain": (tarfile.USTAR_FORMAT, [
        ("oxide.json", "file", LAYER),
        ("root/", "dir", None),
        ("root/etc", "dir", None),
        ("root/etc/motd", "file", b"hello\n"),
        ("root/bin", "symlink", "usr/bin"),
        ("root/etc/motd2", "hardlink", "root/etc/motd"),
        ("README", "file", b"ignored"),
    ]),
    "gnu": (tarfile.GNU_FORMAT, [
        ("oxide.json", "file", LAYER),
        (long_name, "file", b"long"),
        ("root/l", "symlink", "../" * 40 + "etc"),
    ]),
    "pax": (tarfile.PAX_FORMAT, [
        ("oxide.json", "file", b'{"v":"1","t":"baseline"}'),
        (long_name, "file", b"long"),
        ("root/caf\u00e9", "file", b"x"),
    ]),
}

for target in ["inspect", "inspect_tar"]:
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, (fmt, entries) in seeds.items():
        raw = tar_bytes(fmt, entries)
        data = gzip.compress(raw, mtime=0) if target == "inspect" else raw
        with open(os.path.join(d, "seed-" + name), "wb") as f:
            f.write(data)

meta = os.path.join(here, "corpus", "meta")
os.makedirs(meta, exist_ok=True)
for i, text in enumerate([LAYER, b'{"v":"1","t":"baseline","x":[1,2.5,{"y":null}]}', b'{"v":"2"}']):
    with open(os.path.join(meta, "seed-%d" % i), "wb") as f:
        f.write(text)

path = os.path.join(here, "corpus", "path")
os.makedirs(path, exist_ok=True)
for i, text in enumerate([b"root/etc/passwd", b"./root/a//b/./c/", b"oxide.json", b"root/../x", b"/abs"]):
    with open(os.path.join(path, "seed-%d" % i), "wb") as f:
        f.write(text)
