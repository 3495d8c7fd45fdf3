//! Confined extraction, structure-aware: the fuzzer builds archives from
//! entries whose names and link targets are made of the components an escape
//! needs (`..`, `/`, `.`, names of things outside the zone root, long and
//! odd names), in every header form (plain, GNU long name and long link, PAX
//! `path`/`linkpath`), and each is unpacked as a layer into a zone root that
//! sits deep inside a scratch folder next to a sentinel. Whatever the archive,
//! and whether it is accepted or refused, nothing outside the zone root may
//! change and the zone root itself keeps its owner and mode.
#![no_main]

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use omicron1::image::{self, ImageKind};
use tar::{EntryType, Header};

/// Where the zone root is below the scratch folder: deep enough that a `..`
/// chain that got out would land in the scratch folder, where it is seen.
const ZONE_REL: &str = "n1/n2/n3/n4/zone";

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Comp {
    Root,
    Dot,
    DotDot,
    Empty,
    A,
    B,
    Etc,
    Sentinel,
    Keep,
    N1,
    Zone,
    /// The scratch folder's absolute path (as one "component").
    AbsScratch,
    Long,
    Odd,
}

#[derive(Arbitrary, Debug)]
struct Name {
    absolute: bool,
    comps: Vec<Comp>,
}

#[derive(Arbitrary, Debug)]
enum Form {
    /// The name (cut to 100 bytes) in the header.
    Header,
    /// GNU long name / long link entries before the header.
    Gnu,
    /// PAX `path` / `linkpath` records before the header (a harmless header name).
    Pax,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(Name),
    Hardlink(Name),
    Fifo,
    Other(u8),
}

#[derive(Arbitrary, Debug)]
struct Item {
    name: Name,
    kind: Kind,
    form: Form,
    mode: u16,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// A layer's `oxide.json` first (almost always: most inputs should get
    /// as far as the entries).
    no_metadata: bool,
    items: Vec<Item>,
}

struct Scratch {
    dir: tempfile::TempDir,
    zone: PathBuf,
    image: PathBuf,
    outside: BTreeMap<PathBuf, String>,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("scratch folder");
        let zone = dir.path().join(ZONE_REL);
        std::fs::create_dir_all(&zone).expect("zone root");
        std::fs::create_dir_all(dir.path().join("sentinel/etc")).expect("sentinel");
        std::fs::write(dir.path().join("sentinel/keep"), b"keep").expect("sentinel");
        std::fs::write(dir.path().join("sentinel/etc/passwd"), b"root").expect("sentinel");
        let image = dir.path().join("image.tar.gz");
        let outside = outside(dir.path(), &image);
        Scratch { dir, zone, image, outside }
    })
}

/// Everything under `top` but the zone root and the image: kind, mode,
/// owner, size, mtime, contents or link target.
fn outside(top: &Path, image: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![top.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p == top.join(ZONE_REL) || p == image {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).expect("lstat");
            let what = if m.is_dir() {
                todo.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&p))
            } else {
                format!("file {:?}", std::fs::read(&p))
            };
            let line = format!(
                "{what} {:o} {}:{} n{} {}.{}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.nlink(),
                m.mtime(),
                m.mtime_nsec()
            );
            out.insert(p, line);
        }
    }
    out
}

fn render(name: &Name, scratch: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    if name.absolute {
        out.push(b'/');
    }
    for (i, c) in name.comps.iter().take(40).enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        let part: Vec<u8> = match c {
            Comp::Root => b"root".to_vec(),
            Comp::Dot => b".".to_vec(),
            Comp::DotDot => b"..".to_vec(),
            Comp::Empty => Vec::new(),
            Comp::A => b"a".to_vec(),
            Comp::B => b"b".to_vec(),
            Comp::Etc => b"etc".to_vec(),
            Comp::Sentinel => b"sentinel".to_vec(),
            Comp::Keep => b"keep".to_vec(),
            Comp::N1 => b"n1".to_vec(),
            Comp::Zone => b"zone".to_vec(),
            Comp::AbsScratch => scratch.as_os_str().as_encoded_bytes()[1..].to_vec(),
            Comp::Long => vec![b'l'; 120],
            Comp::Odd => b"\xff\xfe caf\xe9".to_vec(),
        };
        out.extend_from_slice(&part);
    }
    out
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

/// Appends an entry with raw name and link bytes in the chosen form.
fn append(b: &mut tar::Builder<Vec<u8>>, form: &Form, ty: EntryType, name: &[u8], link: &[u8], data: &[u8], mode: u32) {
    let mut h = header(ty, data.len() as u64, mode);
    let cut = |s: &[u8]| s[..s.len().min(100)].to_vec();
    let (hname, hlink) = match form {
        Form::Header => (cut(name), cut(link)),
        Form::Gnu => {
            for (t, value) in [(EntryType::GNULongName, name), (EntryType::GNULongLink, link)] {
                if value.len() > 100 {
                    let mut l = header(t, value.len() as u64 + 1, 0o644);
                    l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                    l.set_cksum();
                    let mut data = value.to_vec();
                    data.push(0);
                    b.append(&l, &data[..]).expect("append to memory");
                }
            }
            (cut(name), cut(link))
        }
        Form::Pax => {
            let mut records: Vec<(&str, &[u8])> = vec![("path", name)];
            if !link.is_empty() {
                records.push(("linkpath", link));
            }
            b.append_pax_extensions(records).expect("append to memory");
            (b"root/pax".to_vec(), b"root/pax".to_vec())
        }
    };
    let old = h.as_old_mut();
    old.name[..hname.len()].copy_from_slice(&hname);
    if !link.is_empty() {
        old.linkname[..hlink.len()].copy_from_slice(&hlink);
    }
    h.set_cksum();
    b.append(&h, data).expect("append to memory");
}

fn build(input: &Input, scratch: &Path) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    if !input.no_metadata {
        let json = br#"{"v":"1","t":"layer"}"#;
        append(&mut b, &Form::Header, EntryType::Regular, b"oxide.json", b"", json, 0o644);
    }
    for item in input.items.iter().take(24) {
        let name = render(&item.name, scratch);
        let mode = u32::from(item.mode) & 0o7777;
        let (ty, link, data): (EntryType, Vec<u8>, &[u8]) = match &item.kind {
            Kind::File(data) => (EntryType::Regular, Vec::new(), &data[..data.len().min(64)]),
            Kind::Dir => (EntryType::Directory, Vec::new(), &[]),
            Kind::Symlink(target) => (EntryType::Symlink, render(target, scratch), &[]),
            Kind::Hardlink(target) => (EntryType::Link, render(target, scratch), &[]),
            Kind::Fifo => (EntryType::Fifo, Vec::new(), &[]),
            Kind::Other(t) => (EntryType::new(*t), Vec::new(), &[]),
        };
        append(&mut b, &item.form, ty, &name, &link, data, mode);
    }
    let tar = b.into_inner().expect("finish the tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip to memory");
    gz.finish().expect("gzip to memory")
}

fuzz_target!(|input: Input| {
    let s = scratch();
    // An empty zone root, mode 0755 (emptied, not remade, so that its parent
    // does not change).
    for e in std::fs::read_dir(&s.zone).expect("read the zone root") {
        let p = e.expect("entry").path();
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p).expect("clear the zone root"),
            _ => std::fs::remove_file(&p).expect("clear the zone root"),
        }
    }
    std::fs::set_permissions(&s.zone, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(&s.image, build(&input, s.dir.path())).expect("write the image");

    let _ = image::unpack(&s.image, &s.zone, ImageKind::Layer);

    let root = std::fs::symlink_metadata(&s.zone).expect("the zone root is still there");
    assert!(root.is_dir(), "the zone root is no longer a directory");
    assert_eq!(root.mode() & 0o7777, 0o755, "the zone root's mode changed");
    assert_eq!((root.uid(), root.gid()), (0, 0), "the zone root's owner changed");
    let now = outside(s.dir.path(), &s.image);
    assert_eq!(now, s.outside, "something outside the zone root changed");
});
