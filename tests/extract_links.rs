//! Symbolic links met on the way to an entry, where a wrong rule would still
//! pass the tests in `tests/extract.rs`:
//!
//! - an absolute link *below* the zone root (`usr/x -> /`) restarts at the
//!   zone's `/`, not at the link's own directory (at the root the two are the
//!   same, so a link there cannot tell them apart);
//! - the extractor keeps the last parent directory it resolved open; an entry
//!   that replaces a link on that very path with another link (or a hard link)
//!   must make the next entry resolve afresh, not write where the old link led.
//!
//! Every test keeps a sentinel folder beside the zone root and checks that
//! nothing outside the zone changed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use omicron1::image::{self, EntryError, ImageError, ImageKind};
use tar::{EntryType, Header};

/// A layer being built: `oxide.json` first, then entries.
struct Layer {
    b: tar::Builder<Vec<u8>>,
}

impl Layer {
    fn new() -> Self {
        let mut l = Layer {
            b: tar::Builder::new(Vec::new()),
        };
        l.file("oxide.json", br#"{"v":"1","t":"layer"}"#);
        l
    }

    fn header(ty: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(ty);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_500_000_000);
        h
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        let mut h = Self::header(EntryType::Regular, data.len() as u64, 0o644);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Directory, 0, 0o755);
        self.b.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Symlink, 0, 0o777);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        let mut h = Self::header(EntryType::Link, 0, 0o644);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    fn gz(&mut self) -> Vec<u8> {
        let tar = std::mem::replace(&mut self.b, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap();
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&tar).unwrap();
        e.finish().unwrap()
    }
}

/// A zone root two levels down in a temporary folder, beside a sentinel
/// folder whose files no image may touch.
struct Zone {
    tmp: tempfile::TempDir,
    root: PathBuf,
    images: usize,
}

impl Zone {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("zones/z/root");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(tmp.path().join("sentinel/etc")).unwrap();
        fs::write(tmp.path().join("sentinel/etc/passwd"), b"host").unwrap();
        Zone {
            tmp,
            root,
            images: 0,
        }
    }

    fn unpack(&mut self, layer: &mut Layer) -> Result<image::Unpacked, ImageError> {
        self.images += 1;
        let path = self.tmp.path().join(format!("{}.tar.gz", self.images));
        fs::write(&path, layer.gz()).unwrap();
        image::unpack(&path, &self.root, ImageKind::Layer)
    }

    fn z(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Every regular file below `dir`, relative to it, sorted.
    fn files(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let t = e.file_type().unwrap();
                if t.is_dir() {
                    todo.push(e.path());
                } else if t.is_file() {
                    let rel = e.path().strip_prefix(dir).unwrap().to_owned();
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for Zone {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let sentinel = self.tmp.path().join("sentinel");
        assert_eq!(Zone::files(&sentinel), ["etc/passwd"], "sentinel changed");
        assert_eq!(fs::read(sentinel.join("etc/passwd")).unwrap(), b"host");
        let zones = Zone::files(&self.tmp.path().join("zones"));
        assert!(
            zones.iter().all(|f| f.starts_with("z/root/")),
            "written outside the zone root: {zones:?}"
        );
    }
}

#[test]
fn an_absolute_link_below_the_zone_root_restarts_at_the_zones_root() {
    let mut z = Zone::new();
    let mut l = Layer::new();
    l.dir("root/usr")
        .dir("root/usr/lib")
        .symlink("root/usr/x", "/")
        .file("root/usr/x/etc/motd", b"through usr/x")
        // Two levels down, to a path that exists only at the zone's root.
        .dir("root/opt")
        .symlink("root/usr/lib/opt", "/opt")
        .file("root/usr/lib/opt/tool", b"tool")
        // A chain: absolute, then relative from where the first one led.
        .dir("root/var")
        .symlink("root/usr/lib/v", "/var/../var")
        .file("root/usr/lib/v/log", b"log")
        // A hard link whose target is reached through a link below the root.
        .hardlink("root/etc/motd-link", "root/usr/x/etc/motd");
    z.unpack(&mut l).unwrap();
    assert_eq!(fs::read(z.z("etc/motd")).unwrap(), b"through usr/x");
    assert!(!z.z("usr/etc").exists(), "resolved from the link's folder");
    assert_eq!(fs::read(z.z("opt/tool")).unwrap(), b"tool");
    assert!(!z.z("usr/lib/opt/tool").exists() && !z.z("usr/opt").exists());
    assert_eq!(fs::read(z.z("var/log")).unwrap(), b"log");
    assert_eq!(fs::read(z.z("etc/motd-link")).unwrap(), b"through usr/x");
}

#[test]
fn an_absolute_link_below_the_root_from_an_earlier_layer_restarts_at_the_zones_root() {
    let mut z = Zone::new();
    // As a template or an earlier layer left it.
    fs::create_dir_all(z.z("usr/lib")).unwrap();
    fs::create_dir_all(z.z("etc")).unwrap();
    symlink("/etc", z.z("usr/lib/etc")).unwrap();
    let mut l = Layer::new();
    l.file("root/usr/lib/etc/passwd", b"zone passwd");
    z.unpack(&mut l).unwrap();
    assert_eq!(fs::read(z.z("etc/passwd")).unwrap(), b"zone passwd");
    assert!(
        z.z("usr/lib/etc").symlink_metadata().unwrap().is_symlink(),
        "the link stays"
    );
    assert!(!z.z("usr/etc").exists());
}

#[test]
fn a_link_replaced_by_another_link_on_the_cached_path_is_resolved_afresh() {
    let mut z = Zone::new();
    let mut l = Layer::new();
    // `a -> .` makes `a/` the zone root, the folder the extractor then has
    // open for `a/`; the entry `a/a` is the link `a` itself, replaced by a
    // link to `y`: the next entry under `a/` must go to `y`.
    l.dir("root/y")
        .symlink("root/a", ".")
        .file("root/a/one", b"1")
        .symlink("root/a/a", "y")
        .file("root/a/two", b"2");
    z.unpack(&mut l).unwrap();
    assert_eq!(fs::read(z.z("one")).unwrap(), b"1");
    assert_eq!(fs::read_link(z.z("a")).unwrap(), Path::new("y"));
    assert_eq!(fs::read(z.z("y/two")).unwrap(), b"2");
    assert!(!z.z("two").exists(), "written where the old link led");
}

#[test]
fn a_link_replaced_by_a_hard_link_on_the_cached_path_is_resolved_afresh() {
    let mut z = Zone::new();
    let mut l = Layer::new();
    l.file("root/f", b"plain file")
        .symlink("root/a", ".")
        .file("root/a/one", b"1")
        // `a` becomes a hard link to a file: `a/two` has no folder to go to.
        .hardlink("root/a/a", "root/f")
        .file("root/a/two", b"2");
    let err = z.unpack(&mut l).unwrap_err();
    match &err {
        ImageError::Entry { entry, problem, .. } => {
            assert_eq!(entry, "root/a/two");
            assert!(
                matches!(problem, EntryError::NotADirectory { .. }),
                "{problem:?}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(fs::read(z.z("a")).unwrap(), b"plain file");
    assert!(!z.z("two").exists(), "written where the old link led");
}
