//! Image extraction against real archives on the host: what a layer installs,
//! how later layers replace earlier ones, and that hostile archives (symlink
//! escapes, `..`, absolute names, devices, broken streams) are refused or stay
//! inside the zone root. Every test keeps a sentinel directory next to the zone
//! root and checks that it is untouched.
//!
//! The tests run as root (they set owners and setuid bits), as the installer does.

use std::collections::BTreeMap;
use std::error::Error;
use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use omicron1::image::{self, EntryError, ImageError, ImageKind, MetaError};
use tar::{EntryType, Header};

/// The mtime every entry gets unless a test says otherwise.
const MTIME: u64 = 1_500_000_000;

const LAYER: &str = r#"{"v":"1","t":"layer"}"#;

// ---------------------------------------------------------------------------
// Building archives

/// Owner, mode and time of an entry.
#[derive(Clone, Copy)]
struct A {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
}

fn a(mode: u32) -> A {
    A {
        mode,
        uid: 0,
        gid: 0,
        mtime: MTIME,
    }
}

/// An image being built: a tar in memory, gzipped at the end.
struct Image {
    b: tar::Builder<Vec<u8>>,
}

impl Image {
    /// An empty archive (no metadata).
    fn empty() -> Self {
        Image {
            b: tar::Builder::new(Vec::new()),
        }
    }

    /// An archive starting with this `oxide.json`.
    fn with_meta(json: &str) -> Self {
        let mut i = Image::empty();
        i.file("oxide.json", json.as_bytes(), a(0o644));
        i
    }

    /// A layer: `{"v":"1","t":"layer"}` first.
    fn layer() -> Self {
        Image::with_meta(LAYER)
    }

    fn header(ty: EntryType, size: u64, attrs: A) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(ty);
        h.set_size(size);
        h.set_mode(attrs.mode);
        h.set_uid(attrs.uid);
        h.set_gid(attrs.gid);
        h.set_mtime(attrs.mtime);
        h
    }

    fn file(&mut self, name: &str, data: &[u8], attrs: A) -> &mut Self {
        let mut h = Self::header(EntryType::Regular, data.len() as u64, attrs);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    fn dir(&mut self, name: &str, attrs: A) -> &mut Self {
        let mut h = Self::header(EntryType::Directory, 0, attrs);
        self.b.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    fn symlink(&mut self, name: &str, target: &str, attrs: A) -> &mut Self {
        let mut h = Self::header(EntryType::Symlink, 0, attrs);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Link, 0, a(0o644));
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    /// An entry with raw name and link name bytes written straight into the
    /// header (at most 100 bytes each), which `set_path` would refuse.
    fn raw(&mut self, ty: EntryType, name: &[u8], link: &[u8], data: &[u8]) -> &mut Self {
        let mut h = Self::header(ty, data.len() as u64, a(0o644));
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// PAX records for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    /// The uncompressed tar so far, without an end-of-archive marker.
    fn tar_without_end(&self) -> Vec<u8> {
        self.b.get_ref().clone()
    }

    /// The uncompressed tar, end-of-archive marker included.
    fn tar(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }

    /// The gzip-compressed tar.
    fn gz(self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// ---------------------------------------------------------------------------
// The zone root and what is around it

/// What a tree looks like, to compare before and after: per path, its kind,
/// mode, owner, mtime and contents or link target.
type Tree = BTreeMap<PathBuf, String>;

fn tree(dir: &Path) -> Tree {
    let mut out = Tree::new();
    fn walk(base: &Path, dir: &Path, out: &mut Tree) {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names {
            let m = fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link {:?}", fs::read_link(&p).unwrap())
            } else {
                format!("file {:?}", fs::read(&p).unwrap())
            };
            let rel = p.strip_prefix(base).unwrap().to_owned();
            out.insert(
                rel,
                format!(
                    "{what} mode={:o} {}:{} mtime={}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.mtime()
                ),
            );
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Where the zone root is inside the fixture's folder: deep enough that a
/// `../../../..` that escaped it would still land inside the folder, where the
/// check sees it, rather than in the host's `/tmp`.
const ZONE_REL: &str = "n1/n2/n3/n4/zone";

/// A temporary folder holding the zone root ([`ZONE_REL`]), `sentinel/` (which
/// no image may touch) and `images/`.
struct Fixture {
    tmp: tempfile::TempDir,
    zone: PathBuf,
    sentinel: PathBuf,
    before: Tree,
    count: usize,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let zone = tmp.path().join(ZONE_REL);
        let sentinel = tmp.path().join("sentinel");
        fs::create_dir_all(&zone).unwrap();
        fs::set_permissions(&zone, fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir_all(sentinel.join("etc")).unwrap();
        fs::write(sentinel.join("keep"), b"do not touch").unwrap();
        fs::write(sentinel.join("etc/passwd"), b"root:x:0:0").unwrap();
        fs::create_dir(tmp.path().join("images")).unwrap();
        let before = tree(tmp.path());
        Fixture {
            tmp,
            zone,
            sentinel,
            before,
            count: 0,
        }
    }

    /// Writes an image file and returns its path.
    fn write(&mut self, bytes: &[u8]) -> PathBuf {
        self.count += 1;
        let p = self
            .tmp
            .path()
            .join("images")
            .join(format!("{}.tar.gz", self.count));
        fs::write(&p, bytes).unwrap();
        p
    }

    fn unpack(&mut self, bytes: &[u8]) -> Result<image::Unpacked, ImageError> {
        let p = self.write(bytes);
        image::unpack(&p, &self.zone, ImageKind::Layer)
    }

    fn z(&self, rel: &str) -> PathBuf {
        self.zone.join(rel)
    }

    /// A relative link target that, followed on the host from the zone root,
    /// is the sentinel; inside the zone it is the zone's `/sentinel`.
    fn up_to_sentinel(&self) -> String {
        format!("{}sentinel", "../".repeat(ZONE_REL.split('/').count()))
    }

    /// The sentinel's absolute path as a relative one (no leading `/`).
    fn sentinel_rel(&self) -> String {
        self.sentinel
            .strip_prefix("/")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// Where the sentinel's absolute path is inside the zone.
    fn sentinel_in_zone(&self) -> PathBuf {
        self.zone.join(self.sentinel_rel())
    }

    /// The sentinel, and everything else outside the zone root but the images,
    /// is as it was.
    fn assert_outside_untouched(&self) {
        let now = tree(self.tmp.path());
        let outside = |t: &Tree| -> Tree {
            t.iter()
                .filter(|(p, _)| !p.starts_with(ZONE_REL) && !p.starts_with("images/"))
                .map(|(p, v)| (p.clone(), v.clone()))
                .collect()
        };
        assert_eq!(
            outside(&now),
            outside(&self.before),
            "something outside the zone root changed"
        );
        let top: Vec<_> = fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(top.len(), 3, "{top:?}");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_outside_untouched();
        }
    }
}

/// The error and its sources on one line, as `main` prints it.
fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

fn is_symlink(p: &Path) -> bool {
    fs::symlink_metadata(p)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

fn meta(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn entry_problem(e: &ImageError) -> (&str, &EntryError) {
    match e {
        ImageError::Entry { entry, problem, .. } => (entry, problem),
        other => panic!("not an entry error: {}", chain(other)),
    }
}

fn meta_problem(e: &ImageError) -> &MetaError {
    match e {
        ImageError::Metadata { problem, .. } => problem,
        other => panic!("not a metadata error: {}", chain(other)),
    }
}

// ---------------------------------------------------------------------------
// A normal layer

#[test]
fn a_layer_installs_files_directories_links_and_their_metadata() {
    let mut f = Fixture::new();
    let long_component = "c".repeat(150);
    let long_gnu = format!("root/deep/{long_component}/gnu-file");
    let long_pax = format!("root/deep/{long_component}/pax-file");
    let long_target = format!("/deep/{long_component}/gnu-file");
    let mut i = Image::layer();
    i.dir("root/", a(0o700))
        .dir(
            "root/etc",
            A {
                mode: 0o755,
                uid: 0,
                gid: 3,
                mtime: 1_400_000_000,
            },
        )
        .file(
            "root/etc/motd",
            b"hello zone\n",
            A {
                mode: 0o640,
                uid: 1234,
                gid: 5678,
                mtime: 1_600_000_000,
            },
        )
        .dir("root/usr", a(0o755))
        .dir("root/usr/bin", a(0o755))
        .file(
            "root/usr/bin/su",
            b"#!/bin/sh\n",
            A {
                mode: 0o4755,
                uid: 0,
                gid: 2,
                mtime: MTIME,
            },
        )
        .dir("root/var", a(0o755))
        .dir("root/var/tmp", a(0o1777))
        .dir("root/var/mail", a(0o2775))
        .hardlink("root/usr/bin/su2", "root/usr/bin/su")
        .hardlink("./root/usr/bin/su3", "./root/usr/bin/su")
        .symlink(
            "root/bin",
            "usr/bin",
            A {
                mode: 0o777,
                uid: 1234,
                gid: 5678,
                mtime: 1_300_000_000,
            },
        )
        .symlink("root/long-link", &long_target, a(0o777))
        .file("root/a/b/c/implied", b"x", a(0o600))
        .dir("root/deep", a(0o755))
        .dir(&format!("root/deep/{long_component}"), a(0o755))
        .file(&long_gnu, b"gnu long name", a(0o644));
    i.pax(&[("path", long_pax.as_bytes())]);
    i.file("root/pax-placeholder", b"pax long name", a(0o644));
    // The metadata of the directory written before its children is kept.
    i.dir(
        "root/etc",
        A {
            mode: 0o755,
            uid: 0,
            gid: 3,
            mtime: 1_400_000_000,
        },
    );
    let bytes = i.gz();
    let path = f.write(&bytes);
    let u = image::unpack(&path, &f.zone, ImageKind::Layer).unwrap();

    assert_eq!(u.meta.kind, ImageKind::Layer);
    assert_eq!(u.sha256, image::sha256_file(&path).unwrap());
    assert_eq!(u.sha256.len(), 64);
    // 1 (root/ itself) is not an entry installed; everything else is.
    assert_eq!(u.entries, 18);
    assert_eq!(u.bytes, (11 + 10 + 1 + 13 + 13) as u64);

    let motd = meta(&f.z("etc/motd"));
    assert_eq!(fs::read(f.z("etc/motd")).unwrap(), b"hello zone\n");
    assert_eq!(
        (motd.mode() & 0o7777, motd.uid(), motd.gid()),
        (0o640, 1234, 5678)
    );
    assert_eq!(motd.mtime(), 1_600_000_000);

    let su = meta(&f.z("usr/bin/su"));
    assert_eq!(su.mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!((su.uid(), su.gid()), (0, 2));
    for other in ["usr/bin/su2", "usr/bin/su3"] {
        let m = meta(&f.z(other));
        assert_eq!(
            (m.dev(), m.ino()),
            (su.dev(), su.ino()),
            "{other} is a hard link to su"
        );
    }
    assert_eq!(su.nlink(), 3);

    assert_eq!(meta(&f.z("var/tmp")).mode() & 0o7777, 0o1777, "sticky kept");
    assert_eq!(
        meta(&f.z("var/mail")).mode() & 0o7777,
        0o2775,
        "setgid kept"
    );

    let etc = meta(&f.z("etc"));
    assert_eq!((etc.mode() & 0o7777, etc.gid()), (0o755, 3));
    assert_eq!(
        etc.mtime(),
        1_400_000_000,
        "directory time set after its children"
    );

    let bin = meta(&f.z("bin"));
    assert!(bin.file_type().is_symlink());
    assert_eq!(fs::read_link(f.z("bin")).unwrap(), Path::new("usr/bin"));
    assert_eq!(
        (bin.uid(), bin.gid(), bin.mtime()),
        (1234, 5678, 1_300_000_000),
        "symlink owner and time"
    );
    assert_eq!(
        fs::read_link(f.z("long-link")).unwrap(),
        Path::new(&long_target)
    );

    // Missing directories are created 0755.
    for d in ["a", "a/b", "a/b/c"] {
        assert_eq!(meta(&f.z(d)).mode() & 0o7777, 0o755, "{d}");
    }
    assert_eq!(fs::read(f.z("a/b/c/implied")).unwrap(), b"x");

    assert!(long_gnu.len() > 100);
    assert_eq!(
        fs::read(f.z(long_gnu.strip_prefix("root/").unwrap())).unwrap(),
        b"gnu long name"
    );
    assert_eq!(
        fs::read(f.z(long_pax.strip_prefix("root/").unwrap())).unwrap(),
        b"pax long name"
    );
    assert!(!f.z("pax-placeholder").exists());

    // root/ itself is the installer's: its mode stays.
    assert_eq!(meta(&f.zone).mode() & 0o7777, 0o755);
    // oxide.json is not installed.
    assert!(!f.z("oxide.json").exists());
}

#[test]
fn pax_records_give_large_ids_and_sub_second_times() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.pax(&[
        ("uid", b"3000000"),
        ("gid", b"3000001"),
        ("mtime", b"1600000000.25"),
    ]);
    i.file("root/f", b"x", a(0o644));
    f.unpack(&i.gz()).unwrap();
    let m = meta(&f.z("f"));
    assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 250_000_000));
}

#[test]
fn non_utf8_names_are_installed_byte_for_byte() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.raw(EntryType::Regular, b"root/caf\xe9", b"", b"latin-1");
    f.unpack(&i.gz()).unwrap();
    assert_eq!(
        fs::read(f.zone.join(OsStr::from_bytes(b"caf\xe9"))).unwrap(),
        b"latin-1"
    );
}

#[test]
fn an_old_style_directory_is_a_nul_type_with_a_trailing_slash() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    let mut h = Image::header(EntryType::Regular, 0, a(0o710));
    h.as_old_mut().name[..12].copy_from_slice(b"root/olddir/");
    h.as_old_mut().linkflag[0] = 0;
    h.set_cksum();
    i.b.append(&h, &[][..]).unwrap();
    f.unpack(&i.gz()).unwrap();
    let m = meta(&f.z("olddir"));
    assert!(m.is_dir());
    assert_eq!(m.mode() & 0o7777, 0o710);
}

#[test]
fn entries_outside_root_are_ignored() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.file("README", b"read me", a(0o644))
        .dir("other", a(0o755))
        .file("other/x", b"x", a(0o644))
        .file("rootfs/etc/passwd", b"x", a(0o644))
        .raw(EntryType::Fifo, b"fifo-outside", b"", b"")
        .file("root/kept", b"kept", a(0o644));
    let bytes = i.gz();
    let u = f.unpack(&bytes).unwrap();
    assert_eq!(u.entries, 1);
    let names: Vec<_> = fs::read_dir(&f.zone)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![OsStr::new("kept").to_owned()]);
    let p = f.write(&bytes);
    assert_eq!(image::inspect(&p).unwrap().ignored, 5);
}

// ---------------------------------------------------------------------------
// Layers on layers

#[test]
fn a_later_layer_replaces_files_and_links_of_an_earlier_one() {
    let mut f = Fixture::new();
    let mut one = Image::layer();
    one.dir("root/etc", a(0o755))
        .file("root/etc/conf", b"one", a(0o644))
        .symlink("root/etc/link", "conf", a(0o777))
        .file("root/etc/plain", b"plain", a(0o644))
        .file("root/etc/a", b"shared", a(0o644))
        .hardlink("root/etc/b", "root/etc/a");
    f.unpack(&one.gz()).unwrap();
    // Held open, the old file stays readable once replaced.
    let mut conf_before = fs::File::open(f.z("etc/conf")).unwrap();

    let mut two = Image::layer();
    two.dir("root/etc", a(0o750))
        .file("root/etc/conf", b"two", a(0o600))
        .file("root/etc/link", b"now a file", a(0o644))
        .symlink("root/etc/plain", "conf", a(0o777))
        .file("root/etc/a", b"new a", a(0o644));
    f.unpack(&two.gz()).unwrap();

    assert_eq!(fs::read(f.z("etc/conf")).unwrap(), b"two");
    assert_eq!(meta(&f.z("etc/conf")).mode() & 0o7777, 0o600);
    let mut old = String::new();
    std::io::Read::read_to_string(&mut conf_before, &mut old).unwrap();
    assert_eq!(old, "one", "replaced, not written in place");
    assert!(!is_symlink(&f.z("etc/link")), "the symlink became a file");
    assert_eq!(fs::read(f.z("etc/link")).unwrap(), b"now a file");
    assert_eq!(fs::read_link(f.z("etc/plain")).unwrap(), Path::new("conf"));
    // Replacing one name of a hard-linked pair leaves the other alone.
    assert_eq!(fs::read(f.z("etc/a")).unwrap(), b"new a");
    assert_eq!(fs::read(f.z("etc/b")).unwrap(), b"shared");
    assert_eq!(
        meta(&f.z("etc")).mode() & 0o7777,
        0o750,
        "an existing directory's metadata is updated"
    );
}

#[test]
fn a_symlink_to_a_directory_in_the_zone_is_kept_for_a_directory_entry() {
    let mut f = Fixture::new();
    fs::create_dir_all(f.z("usr/bin")).unwrap();
    fs::set_permissions(f.z("usr/bin"), fs::Permissions::from_mode(0o755)).unwrap();
    symlink("usr/bin", f.z("bin")).unwrap();
    // An absolute link, to a path that is a directory both in the zone and on
    // the host (the sentinel): only the zone's may be looked at.
    fs::create_dir_all(f.sentinel_in_zone()).unwrap();
    fs::set_permissions(f.sentinel_in_zone(), fs::Permissions::from_mode(0o755)).unwrap();
    symlink(&f.sentinel, f.z("sbin")).unwrap();
    let mut i = Image::layer();
    i.dir("root/bin", a(0o700))
        .file("root/bin/ls", b"ls", a(0o555))
        .dir("root/sbin/", a(0o700))
        .file("root/sbin/keep", b"zone's", a(0o644));
    f.unpack(&i.gz()).unwrap();
    assert!(is_symlink(&f.z("bin")) && is_symlink(&f.z("sbin")));
    assert_eq!(fs::read(f.z("usr/bin/ls")).unwrap(), b"ls");
    assert_eq!(
        fs::read(f.sentinel_in_zone().join("keep")).unwrap(),
        b"zone's"
    );
    assert_eq!(
        meta(&f.z("usr/bin")).mode() & 0o7777,
        0o755,
        "nothing changed through the link"
    );
    assert_eq!(
        meta(&f.sentinel_in_zone()).mode() & 0o7777,
        0o755,
        "nothing changed through the link"
    );
}

#[test]
fn a_dangling_symlink_is_replaced_by_a_directory_entry() {
    let mut f = Fixture::new();
    symlink("nowhere", f.z("d")).unwrap();
    let mut i = Image::layer();
    i.dir("root/d", a(0o711));
    f.unpack(&i.gz()).unwrap();
    let m = meta(&f.z("d"));
    assert!(m.is_dir());
    assert_eq!(m.mode() & 0o7777, 0o711);
}

// ---------------------------------------------------------------------------
// Symlink escapes: everything lands inside the zone root

#[test]
fn symlinks_planted_in_the_same_archive_resolve_inside_the_zone() {
    let mut f = Fixture::new();
    let sentinel = f.sentinel.to_str().unwrap().to_owned();
    let mut i = Image::layer();
    // (The file under `etc -> /` is named after the sentinel so that, if the
    // link were followed on the host, the sentinel check would catch it.)
    i.symlink("root/etc", "/", a(0o777))
        .file(
            &format!("root/etc/{}/passwd", f.sentinel_rel()),
            b"zone passwd",
            a(0o644),
        )
        .symlink("root/hostetc", &format!("{sentinel}/etc"), a(0o777))
        .file("root/hostetc/passwd", b"evil", a(0o644))
        .symlink("root/x", "../../../../tmp", a(0o777))
        .file("root/x/file", b"in zone tmp", a(0o644))
        .symlink("root/up", &f.up_to_sentinel(), a(0o777))
        .file("root/up/keep", b"evil", a(0o644))
        .dir("root/up/newdir", a(0o777));
    f.unpack(&i.gz()).unwrap();

    // `etc -> /` is the zone's own root.
    assert!(is_symlink(&f.z("etc")));
    assert_eq!(
        fs::read(f.sentinel_in_zone().join("passwd")).unwrap(),
        b"zone passwd"
    );
    // An absolute link to the sentinel leads to the same path inside the zone.
    assert_eq!(
        fs::read(f.sentinel_in_zone().join("etc/passwd")).unwrap(),
        b"evil"
    );
    // `..` stops at the zone root.
    assert_eq!(fs::read(f.z("tmp/file")).unwrap(), b"in zone tmp");
    assert_eq!(fs::read(f.z("sentinel/keep")).unwrap(), b"evil");
    assert!(meta(&f.z("sentinel/newdir")).is_dir());
    // (Fixture::drop checks the sentinel.)
    assert_eq!(fs::read(f.sentinel.join("keep")).unwrap(), b"do not touch");
}

#[test]
fn symlinks_already_in_the_zone_root_resolve_inside_the_zone() {
    let mut f = Fixture::new();
    symlink(&f.sentinel, f.z("pre_abs")).unwrap();
    symlink(f.up_to_sentinel(), f.z("pre_rel")).unwrap();
    symlink("../../../../../../../../../..", f.z("pre_up")).unwrap();
    fs::create_dir(f.z("etc")).unwrap();
    symlink(f.sentinel.join("keep"), f.z("etc/shadow")).unwrap();
    let mut i = Image::layer();
    i.file("root/pre_abs/keep", b"abs", a(0o644))
        .file("root/pre_rel/keep", b"rel", a(0o644))
        .file(
            &format!("root/pre_up/{}/up", f.sentinel_rel()),
            b"up",
            a(0o644),
        )
        // The entry replaces the link at its own path rather than writing through it.
        .file("root/etc/shadow", b"zone shadow", a(0o600));
    f.unpack(&i.gz()).unwrap();
    assert_eq!(fs::read(f.sentinel_in_zone().join("keep")).unwrap(), b"abs");
    assert_eq!(fs::read(f.z("sentinel/keep")).unwrap(), b"rel");
    assert_eq!(fs::read(f.sentinel_in_zone().join("up")).unwrap(), b"up");
    assert!(!is_symlink(&f.z("etc/shadow")));
    assert_eq!(fs::read(f.z("etc/shadow")).unwrap(), b"zone shadow");
}

#[test]
fn a_symlink_replaced_by_a_file_is_not_written_through() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.symlink(
        "root/f",
        f.sentinel.join("keep").to_str().unwrap(),
        a(0o777),
    )
    .file("root/f", b"mine", a(0o4755));
    f.unpack(&i.gz()).unwrap();
    assert!(!is_symlink(&f.z("f")));
    assert_eq!(meta(&f.z("f")).mode() & 0o7777, 0o4755);
}

/// The extractor reuses the last parent directory it resolved; an entry that
/// replaces a symbolic link on that path must make the next entry resolve
/// afresh, not write where the old link led.
#[test]
fn regression_a_replaced_link_is_not_reused_as_a_parent() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.dir("root/x", a(0o755))
        .dir("root/y", a(0o755))
        .symlink("root/a", "x", a(0o777))
        .file("root/a/one", b"1", a(0o644))
        // `a` now leads to `y`: the next file under `a/` goes there.
        .symlink("root/a", "y", a(0o777))
        .file("root/a/two", b"2", a(0o644))
        .symlink("root/b", "x", a(0o777))
        .file("root/b/three", b"3", a(0o644))
        .file("root/b", b"not a dir", a(0o644))
        .file("root/c/four", b"4", a(0o644));
    f.unpack(&i.gz()).unwrap();
    assert_eq!(fs::read(f.z("x/one")).unwrap(), b"1");
    assert_eq!(fs::read(f.z("y/two")).unwrap(), b"2");
    assert!(!f.z("x/two").exists(), "written through the replaced link");
    assert_eq!(fs::read(f.z("x/three")).unwrap(), b"3");
    assert_eq!(fs::read(f.z("b")).unwrap(), b"not a dir");
    assert_eq!(fs::read(f.z("c/four")).unwrap(), b"4");

    // `a -> .` makes `a/a` the link itself: the file replacing it is in the
    // very directory the extractor has open for `a/`, so only dropping that
    // on a replacement makes `a/two` fail as it must (`a` is now a file).
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.symlink("root/a", ".", a(0o777))
        .file("root/a/one", b"1", a(0o644))
        .file("root/a/a", b"now a file", a(0o644))
        .file("root/a/two", b"2", a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/a/two");
    assert!(
        matches!(problem, EntryError::NotADirectory { .. }),
        "{problem:?}"
    );
    assert_eq!(fs::read(f.z("one")).unwrap(), b"1");
    assert_eq!(fs::read(f.z("a")).unwrap(), b"now a file");
    assert!(!f.z("two").exists(), "written through the replaced link");
}

/// tar-rs GHSA (fixed in 0.4.45): a symlink followed by a directory entry of
/// the same name could chmod a directory outside the destination.
#[test]
fn regression_tar_rs_symlink_then_same_named_directory_chmod() {
    let mut f = Fixture::new();
    // The sentinel's path exists inside the zone only for `z` below.
    fs::create_dir_all(f.sentinel_in_zone()).unwrap();
    fs::set_permissions(f.sentinel_in_zone(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut i = Image::layer();
    i.symlink(
        "root/d",
        &format!("{}/etc/nothing", f.sentinel.display()),
        a(0o777),
    )
    .dir("root/d", a(0o777))
    .symlink("root/z", f.sentinel.to_str().unwrap(), a(0o777))
    .dir("root/z", a(0o700))
    .symlink("root/r", &f.up_to_sentinel(), a(0o777))
    .dir("root/r", a(0o777));
    f.unpack(&i.gz()).unwrap();
    // `d` led nowhere inside the zone, so it became a directory of its own.
    assert!(meta(&f.z("d")).is_dir());
    assert_eq!(meta(&f.z("d")).mode() & 0o7777, 0o777);
    assert!(meta(&f.z("r")).is_dir());
    // `z` leads to a directory in the zone: kept, and nothing changed through it.
    assert!(is_symlink(&f.z("z")));
    assert_eq!(meta(&f.sentinel_in_zone()).mode() & 0o7777, 0o755);
}

#[test]
fn a_hard_link_through_a_symlink_cannot_reach_a_host_file() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.symlink("root/l", f.sentinel.to_str().unwrap(), a(0o777))
        .hardlink("root/h", "root/l/keep");
    let err = f.unpack(&i.gz()).unwrap_err();
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/h");
    assert!(
        matches!(problem, EntryError::LinkTargetMissing { .. }),
        "{}",
        chain(&err)
    );
    assert!(!f.z("h").exists());
    assert_eq!(meta(&f.sentinel.join("keep")).nlink(), 1);
}

#[test]
fn a_hard_link_to_a_symlink_copies_the_link() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.symlink(
        "root/l",
        "/etc/passwd",
        A {
            mode: 0o777,
            uid: 7,
            gid: 8,
            mtime: MTIME,
        },
    )
    .hardlink("root/h", "root/l");
    f.unpack(&i.gz()).unwrap();
    assert_eq!(fs::read_link(f.z("h")).unwrap(), Path::new("/etc/passwd"));
    let m = meta(&f.z("h"));
    assert_eq!((m.uid(), m.gid()), (7, 8));
}

#[test]
fn symlink_loops_are_an_error() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.symlink("root/a", "b", a(0o777))
        .symlink("root/b", "/a", a(0o777))
        .file("root/a/x", b"x", a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(matches!(entry_problem(&err).1, EntryError::TooManySymlinks));
    assert!(
        chain(&err).contains("too many levels of symbolic links"),
        "{}",
        chain(&err)
    );
}

// ---------------------------------------------------------------------------
// Refused names and entries

#[test]
fn dot_dot_and_absolute_names_are_refused() {
    for name in [
        &b"root/../evil"[..],
        b"/etc/evil",
        b"../evil",
        b"root/a/../../evil",
        b"./../x",
        b"/root/x",
    ] {
        let mut f = Fixture::new();
        let mut i = Image::layer();
        i.raw(EntryType::Regular, name, b"", b"evil");
        let err = f.unpack(&i.gz()).unwrap_err();
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry.as_bytes(), name);
        assert!(matches!(problem, EntryError::Path(_)), "{}", chain(&err));
        assert!(
            fs::read_dir(&f.zone).unwrap().next().is_none(),
            "nothing written"
        );
    }
}

#[test]
fn hard_links_leaving_the_image_root_are_refused() {
    for target in [
        &b"../sentinel/keep"[..],
        b"root/../../sentinel/keep",
        b"/etc/passwd",
        b"etc/passwd",
        b"oxide.json",
        b"root",
    ] {
        let mut f = Fixture::new();
        let mut i = Image::layer();
        i.file("root/etc/passwd", b"x", a(0o644));
        i.raw(EntryType::Link, b"root/h", target, b"");
        let err = f.unpack(&i.gz()).unwrap_err();
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry, "root/h");
        assert!(
            matches!(problem, EntryError::LinkOutside { .. }),
            "{}",
            chain(&err)
        );
        assert!(!f.z("h").exists());
    }
}

#[test]
fn devices_and_fifos_are_refused() {
    for ty in [EntryType::Char, EntryType::Block, EntryType::Fifo] {
        let mut f = Fixture::new();
        let mut i = Image::layer();
        i.raw(ty, b"root/dev/null", b"", b"");
        let err = f.unpack(&i.gz()).unwrap_err();
        assert!(
            matches!(entry_problem(&err).1, EntryError::Device),
            "{}",
            chain(&err)
        );
        assert!(chain(&err).contains("device nodes and FIFOs are not allowed in images"));
        assert!(!f.z("dev/null").exists());
    }
}

#[test]
fn a_file_cannot_replace_a_directory() {
    let mut f = Fixture::new();
    fs::create_dir_all(f.z("usr/lib")).unwrap();
    let mut i = Image::layer();
    i.file("root/usr", b"not a dir", a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/usr");
    assert!(matches!(
        problem,
        EntryError::Conflict {
            wanted: "file",
            found: "directory"
        }
    ));
    assert!(chain(&err).contains("type conflict"), "{}", chain(&err));
    assert!(meta(&f.z("usr/lib")).is_dir());
}

#[test]
fn a_symlink_or_hard_link_cannot_replace_a_directory() {
    let mut f = Fixture::new();
    fs::create_dir(f.z("d")).unwrap();
    let mut i = Image::layer();
    i.symlink("root/d", "/", a(0o777));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(matches!(
        entry_problem(&err).1,
        EntryError::Conflict {
            found: "directory",
            ..
        }
    ));
    let mut i = Image::layer();
    i.file("root/f", b"f", a(0o644))
        .hardlink("root/d", "root/f");
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(matches!(
        entry_problem(&err).1,
        EntryError::Conflict {
            found: "directory",
            ..
        }
    ));
    assert!(meta(&f.z("d")).is_dir());
}

#[test]
fn a_directory_cannot_replace_a_file() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.file("root/etc", b"a file", a(0o644))
        .dir("root/etc", a(0o755));
    let err = f.unpack(&i.gz()).unwrap_err();
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/etc");
    assert!(matches!(
        problem,
        EntryError::Conflict {
            wanted: "directory",
            found: "file"
        }
    ));
    // Nor can a file stand in for a directory on the way.
    let mut i = Image::layer();
    i.file("root/etc/passwd", b"x", a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(
        matches!(entry_problem(&err).1, EntryError::NotADirectory { .. }),
        "{}",
        chain(&err)
    );
    assert_eq!(fs::read(f.z("etc")).unwrap(), b"a file");
}

// ---------------------------------------------------------------------------
// Metadata

fn unpack_as(
    f: &mut Fixture,
    bytes: &[u8],
    kind: ImageKind,
) -> Result<image::Unpacked, ImageError> {
    let p = f.write(bytes);
    image::unpack(&p, &f.zone, kind)
}

#[test]
fn extra_metadata_is_kept() {
    let mut f = Fixture::new();
    let mut i =
        Image::with_meta(r#"{"v":"1","t":"layer","pkg":"ntp","version":"1.2.3","build":{"n":7}}"#);
    i.file("root/x", b"x", a(0o644));
    let u = f.unpack(&i.gz()).unwrap();
    assert_eq!(u.meta.pkg.as_deref(), Some("ntp"));
    assert_eq!(u.meta.version.as_deref(), Some("1.2.3"));
    assert_eq!(u.meta.extra.get("build"), Some(&serde_json::json!({"n":7})));
    assert_eq!(u.meta.to_json()["build"]["n"], 7);
}

#[test]
fn metadata_may_be_named_with_a_dot_slash() {
    let mut f = Fixture::new();
    let mut i = Image::empty();
    i.file("./oxide.json", LAYER.as_bytes(), a(0o644))
        .file("./root/x", b"x", a(0o644));
    f.unpack(&i.gz()).unwrap();
    assert!(f.z("x").exists());
}

#[test]
fn missing_metadata_is_an_error() {
    let mut f = Fixture::new();
    let err = f.unpack(&Image::empty().gz()).unwrap_err();
    assert!(
        matches!(meta_problem(&err), MetaError::Missing),
        "{}",
        chain(&err)
    );
    let mut i = Image::empty();
    i.file("README", b"no metadata here", a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(matches!(meta_problem(&err), MetaError::Missing));
    assert!(chain(&err).contains("no oxide.json"));
}

#[test]
fn metadata_after_root_entries_is_an_error() {
    let mut f = Fixture::new();
    let mut i = Image::empty();
    i.file("root/x", b"x", a(0o644))
        .file("oxide.json", LAYER.as_bytes(), a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(matches!(meta_problem(&err), MetaError::AfterRoot));
    assert!(chain(&err).contains("oxide.json must come before the first root/ entry"));
    assert!(!f.z("x").exists(), "nothing written before the metadata");
    // `root/` itself counts as a root entry too.
    let mut i = Image::empty();
    i.dir("root/", a(0o755))
        .file("oxide.json", LAYER.as_bytes(), a(0o644));
    assert!(matches!(
        meta_problem(&f.unpack(&i.gz()).unwrap_err()),
        MetaError::AfterRoot
    ));
}

#[test]
fn duplicate_metadata_is_an_error() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.file("./oxide.json", LAYER.as_bytes(), a(0o644));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(
        matches!(meta_problem(&err), MetaError::Duplicate),
        "{}",
        chain(&err)
    );
    // Also after root entries.
    let mut i = Image::layer();
    i.file("root/x", b"x", a(0o644))
        .file("oxide.json", LAYER.as_bytes(), a(0o644));
    assert!(matches!(
        meta_problem(&f.unpack(&i.gz()).unwrap_err()),
        MetaError::Duplicate
    ));
}

#[test]
fn bad_metadata_is_an_error() {
    let cases: &[(&str, &str)] = &[
        ("not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (r#"{"v":"2","t":"layer"}"#, "v=\"2\""),
        (r#"{"v":1,"t":"layer"}"#, "\"v\" must be a string"),
        (r#"{"t":"layer"}"#, "no \"v\" key"),
        (r#"{"v":"1"}"#, "no \"t\" key"),
        (r#"{"v":"1","t":"os"}"#, "unknown image type t=\"os\""),
    ];
    for (json, want) in cases {
        let mut f = Fixture::new();
        let mut i = Image::with_meta(json);
        i.file("root/x", b"x", a(0o644));
        let err = f.unpack(&i.gz()).unwrap_err();
        let text = chain(&err);
        assert!(text.contains(want), "{json}: {text}");
        assert!(
            text.contains(&f.tmp.path().display().to_string()),
            "names the image: {text}"
        );
        assert!(!f.z("x").exists());
    }
}

#[test]
fn the_wrong_kind_of_image_is_refused_before_anything_is_written() {
    let mut f = Fixture::new();
    let mut baseline = Image::with_meta(r#"{"v":"1","t":"baseline"}"#);
    baseline.file("root/x", b"x", a(0o644));
    let baseline = baseline.gz();
    let err = unpack_as(&mut f, &baseline, ImageKind::Layer).unwrap_err();
    assert!(matches!(
        meta_problem(&err),
        MetaError::WrongKind {
            expected: ImageKind::Layer,
            found: ImageKind::Baseline
        }
    ));
    assert!(!f.z("x").exists());

    let mut layer = Image::layer();
    layer.file("root/y", b"y", a(0o644));
    let err = unpack_as(&mut f, &layer.gz(), ImageKind::Baseline).unwrap_err();
    assert!(matches!(
        meta_problem(&err),
        MetaError::WrongKind {
            expected: ImageKind::Baseline,
            ..
        }
    ));
    assert!(!f.z("y").exists());

    let u = unpack_as(&mut f, &baseline, ImageKind::Baseline).unwrap();
    assert_eq!(u.meta.kind, ImageKind::Baseline);
    assert!(f.z("x").exists());
}

#[test]
fn oversized_or_non_file_metadata_is_an_error() {
    let mut f = Fixture::new();
    let big = format!(r#"{{"v":"1","t":"layer","pad":"{}"}}"#, "x".repeat(70_000));
    let err = f.unpack(&Image::with_meta(&big).gz()).unwrap_err();
    assert!(matches!(meta_problem(&err), MetaError::TooLarge { .. }));
    let mut i = Image::empty();
    i.dir("oxide.json", a(0o755));
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(matches!(meta_problem(&err), MetaError::NotAFile));
}

// ---------------------------------------------------------------------------
// Stream integrity

fn good_image() -> Vec<u8> {
    let mut i = Image::layer();
    i.file("root/f", &vec![7u8; 100_000], a(0o644));
    i.gz()
}

#[test]
fn a_good_image_has_no_trailing_data_and_a_stable_digest() {
    let mut f = Fixture::new();
    let bytes = good_image();
    let p = f.write(&bytes);
    let u = image::unpack(&p, &f.zone, ImageKind::Layer).unwrap();
    assert_eq!(u.sha256, image::sha256_file(&p).unwrap());
    assert_eq!(u.bytes, 100_000);
}

#[test]
fn a_truncated_gzip_stream_is_an_error() {
    let bytes = good_image();
    for cut in [bytes.len() - 1, bytes.len() - 8, bytes.len() / 2, 12] {
        let mut f = Fixture::new();
        let err = f.unpack(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                ImageError::Corrupt { .. }
                    | ImageError::Entry {
                        problem: EntryError::ShortData { .. },
                        ..
                    }
            ),
            "cut at {cut}: {}",
            chain(&err)
        );
    }
}

#[test]
fn a_corrupt_crc_or_length_is_an_error() {
    let bytes = good_image();
    let n = bytes.len();
    // The gzip trailer: CRC32 at n-8..n-4, ISIZE at n-4..n.
    for at in [n - 8, n - 5, n - 4, n - 1] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x01;
        let mut f = Fixture::new();
        let err = f.unpack(&bad).unwrap_err();
        assert!(
            matches!(err, ImageError::Corrupt { .. }),
            "byte {at}: {}",
            chain(&err)
        );
    }
}

#[test]
fn trailing_garbage_is_an_error() {
    let mut f = Fixture::new();
    let mut bytes = good_image();
    bytes.extend_from_slice(b"garbage");
    let err = f.unpack(&bytes).unwrap_err();
    assert!(
        matches!(err, ImageError::TrailingData { bytes: 7, .. }),
        "{}",
        chain(&err)
    );
    // A second gzip member is trailing data too.
    let mut bytes = good_image();
    bytes.extend_from_slice(&gzip(b"more"));
    assert!(matches!(
        f.unpack(&bytes).unwrap_err(),
        ImageError::TrailingData { .. }
    ));
    // So are trailing zeros.
    let mut bytes = good_image();
    bytes.extend_from_slice(&[0; 512]);
    assert!(matches!(
        f.unpack(&bytes).unwrap_err(),
        ImageError::TrailingData { bytes: 512, .. }
    ));
}

#[test]
fn data_after_the_tar_end_marker_is_an_error() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.file("root/f", b"f", a(0o644));
    let mut tar = i.tar();
    tar.extend_from_slice(&Image::layer().tar());
    let err = f.unpack(&gzip(&tar)).unwrap_err();
    assert!(matches!(err, ImageError::Corrupt { .. }), "{}", chain(&err));
    assert!(chain(&err).contains("after the tar end-of-archive marker"));
}

#[test]
fn a_tar_truncated_inside_an_entry_is_an_error() {
    let mut f = Fixture::new();
    let mut i = Image::layer();
    i.file("root/f", &[1u8; 4096], a(0o644));
    let tar = i.tar();
    // oxide.json (header + 1 block) + f's header + 2 of its 8 blocks.
    let err = f.unpack(&gzip(&tar[..512 * 5])).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Corrupt { .. }
                | ImageError::Entry {
                    problem: EntryError::ShortData { .. },
                    ..
                }
        ),
        "{}",
        chain(&err)
    );
}

#[test]
fn what_is_not_gzip_is_refused() {
    let mut f = Fixture::new();
    let plain = {
        let mut i = Image::layer();
        i.file("root/f", b"f", a(0o644));
        i.tar()
    };
    let err = f.unpack(&plain).unwrap_err();
    assert!(matches!(err, ImageError::NotGzip { .. }));
    assert!(
        chain(&err).contains("not a gzip-compressed tar (it is an uncompressed tar"),
        "{}",
        chain(&err)
    );
    for bytes in [&b"hello, world"[..], b"", b"\x1f"] {
        let err = f.unpack(bytes).unwrap_err();
        assert!(
            matches!(err, ImageError::NotGzip { .. }),
            "{bytes:?}: {}",
            chain(&err)
        );
        assert!(chain(&err).contains("not a gzip-compressed tar"));
    }
    // gzip of something that is not a tar.
    let err = f.unpack(&gzip(&[0x55; 1024])).unwrap_err();
    assert!(matches!(err, ImageError::Corrupt { .. }), "{}", chain(&err));
    assert!(!f.z("f").exists());
}

#[test]
fn a_missing_image_or_zone_root_is_an_error() {
    let f = Fixture::new();
    let missing = f.tmp.path().join("images/none.tar.gz");
    let err = image::unpack(&missing, &f.zone, ImageKind::Layer).unwrap_err();
    assert!(matches!(err, ImageError::Read { .. }));
    assert!(chain(&err).contains("none.tar.gz"));
    let mut g = Fixture::new();
    let p = g.write(&good_image());
    let err = image::unpack(&p, &g.zone.join("nope"), ImageKind::Layer).unwrap_err();
    assert!(matches!(err, ImageError::Root { .. }), "{}", chain(&err));
}

// ---------------------------------------------------------------------------
// inspect

#[test]
fn inspect_counts_and_writes_nothing() {
    let mut f = Fixture::new();
    let mut i = Image::with_meta(r#"{"v":"1","t":"layer","pkg":"p"}"#);
    i.dir("root/", a(0o755))
        .dir("root/etc", a(0o755))
        .dir("root/usr/", a(0o755))
        .file("root/etc/a", b"12345", a(0o644))
        .file("root/etc/b", b"678", a(0o644))
        .file("root/etc/c", b"", a(0o644))
        .symlink("root/bin", "usr/bin", a(0o777))
        .hardlink("root/etc/d", "root/etc/a")
        .file("README", b"ignored", a(0o644));
    let p = f.write(&i.gz());
    let ins = image::inspect(&p).unwrap();
    assert_eq!(ins.meta.kind, ImageKind::Layer);
    assert_eq!(ins.meta.pkg.as_deref(), Some("p"));
    assert_eq!(
        (ins.files, ins.dirs, ins.symlinks, ins.hardlinks),
        (3, 2, 1, 1)
    );
    assert_eq!(ins.bytes, 8);
    assert_eq!(ins.ignored, 2, "README and root/ itself");
    assert_eq!(ins.sha256, image::sha256_file(&p).unwrap());
    assert_eq!(
        ins.meta.to_json(),
        serde_json::json!({"v":"1","t":"layer","pkg":"p"})
    );
    assert!(fs::read_dir(&f.zone).unwrap().next().is_none());
}

#[test]
fn inspect_accepts_a_baseline_and_refuses_what_unpack_refuses() {
    let mut f = Fixture::new();
    let mut b = Image::with_meta(r#"{"v":"1","t":"baseline"}"#);
    b.file("root/x", b"x", a(0o644));
    let p = f.write(&b.gz());
    assert_eq!(image::inspect(&p).unwrap().meta.kind, ImageKind::Baseline);

    let mut i = Image::layer();
    i.raw(EntryType::Regular, b"root/../x", b"", b"x");
    let p = f.write(&i.gz());
    assert!(matches!(
        entry_problem(&image::inspect(&p).unwrap_err()).1,
        EntryError::Path(_)
    ));

    let mut i = Image::layer();
    i.raw(EntryType::Fifo, b"root/p", b"", b"");
    let p = f.write(&i.gz());
    assert!(matches!(
        entry_problem(&image::inspect(&p).unwrap_err()).1,
        EntryError::Device
    ));

    let mut bytes = good_image();
    bytes.push(0);
    let p = f.write(&bytes);
    assert!(matches!(
        image::inspect(&p).unwrap_err(),
        ImageError::TrailingData { .. }
    ));
}

// ---------------------------------------------------------------------------
// Findings (fuzzing and review), one regression test each

/// An archive whose entry at `name` is preceded by an extension entry of type
/// `ty` (GNU long name or long link, PAX records) with `size` bytes of data.
fn with_extension(ty: EntryType, size: u64) -> Vec<u8> {
    let mut i = Image::layer();
    let mut h = Header::new_gnu();
    h.set_entry_type(ty);
    h.set_size(size);
    h.set_mode(0o644);
    h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    h.set_cksum();
    i.b.append(&h, std::io::Read::take(std::io::repeat(b'a'), size))
        .unwrap();
    i.file("root/after", b"x", a(0o644));
    i.gz()
}

/// Finding (review of the tar reader): it keeps an entry's GNU long name,
/// long link and PAX records in memory whole, so a long name of gigabytes —
/// a few megabytes of gzip — exhausted memory before any check could refuse
/// it. The stream now refuses headers of more than `HEADER_BUDGET` bytes as
/// they are read.
#[test]
fn regression_long_name_and_pax_bombs_are_refused_without_buffering_them() {
    for ty in [
        EntryType::GNULongName,
        EntryType::GNULongLink,
        EntryType::XHeader,
    ] {
        let mut f = Fixture::new();
        let err = f.unpack(&with_extension(ty, 8 << 20)).unwrap_err();
        let text = chain(&err);
        assert!(matches!(err, ImageError::Corrupt { .. }), "{ty:?}: {text}");
        assert!(
            text.contains("take more than 1048576 bytes"),
            "{ty:?}: {text}"
        );
        assert!(!f.z("after").exists());
    }
}

/// The same budget bounds a GNU sparse map, which the tar reader also reads
/// whole: a sparse entry whose extension blocks never end.
#[test]
fn regression_endless_sparse_map_is_refused() {
    let mut f = Fixture::new();
    let i = Image::layer();
    let mut h = Header::new_gnu();
    h.set_entry_type(EntryType::GNUSparse);
    h.set_size(0);
    h.set_mode(0o644);
    h.as_old_mut().name[..11].copy_from_slice(b"root/sparse");
    h.as_gnu_mut().unwrap().isextended[0] = 1;
    h.set_cksum();
    let mut tar = i.tar_without_end();
    tar.extend_from_slice(h.as_bytes());
    // Extension blocks, each saying another follows (`isextended` at 504).
    let mut ext = [0u8; 512];
    ext[504] = 1;
    for _ in 0..4096 {
        tar.extend_from_slice(&ext);
    }
    let err = f.unpack(&gzip(&tar)).unwrap_err();
    let text = chain(&err);
    assert!(matches!(err, ImageError::Corrupt { .. }), "{text}");
    assert!(text.contains("take more than 1048576 bytes"), "{text}");
    assert!(!f.z("sparse").exists());
}

/// Long names well within the budget still work, in both GNU and PAX form.
#[test]
fn long_names_under_the_header_budget_still_unpack() {
    let mut f = Fixture::new();
    let deep: String = (0..16)
        .map(|n| format!("{n:02}{}/", "d".repeat(200)))
        .collect();
    let gnu = format!("root/gnu/{deep}file");
    let mut i = Image::layer();
    i.file(&gnu, b"gnu", a(0o644));
    i.pax(&[("path", format!("root/pax/{deep}file").as_bytes())]);
    i.file("root/pax-short-name", b"pax", a(0o644));
    f.unpack(&i.gz()).unwrap();
    assert!(gnu.len() > 3000);
    assert_eq!(fs::read(f.z(&gnu["root/".len()..])).unwrap(), b"gnu");
    assert_eq!(fs::read(f.z(&format!("pax/{deep}file"))).unwrap(), b"pax");
}
