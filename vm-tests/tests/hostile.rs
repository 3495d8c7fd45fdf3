//! Hostile and broken images, each installed the way zoneadm installs a zone,
//! on real ZFS: a table of cases, each an archive made here (no checked-in
//! blobs) and the outcome it must have.
//!
//! Every case checks, besides its own outcome:
//! - nothing outside the zone root changed: two sentinel trees on the host
//!   side (`/tmp/sentinel-<test>`, reached by absolute links, and
//!   `/tmp/tp/<test>/sentinel`, reached by `..` chains from a zone root or the
//!   template) keep their entries, contents, modes, owners, link counts and
//!   times, and no entry appears in `/`, the test's dataset, its zones
//!   dataset or the fixture folder, nor a `*pwned*` or `sentinel*` one in
//!   `/tmp` or `/tmp/tp` (every payload that would make a new entry is named
//!   so; the rest of those folders belongs to the host and to other tests,
//!   which come and go);
//! - the template is unchanged: its `@ready` snapshot and dataset keep their
//!   `guid`, `referenced` and `written`, and it stays unmounted;
//! - a rejected install exits 254 naming the image and the entry, and leaves
//!   no zone root dataset and no files under the zonepath;
//! - an accepted one exits 0 and put everything inside the zone root, where
//!   chroot semantics say (an absolute link target is the zone's own root, `..`
//!   stops there).
//!
//! A last good install shows that the template still clones.
//!
//! (Extraction itself is tested on the host, case by case, in `tests/extract.rs`;
//! these cases are about the whole install.)

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use omicron1_vm_tests::fixture::Fixture;
use omicron1_zfs::{DatasetName, Zfs};
use tar::{EntryType, Header};

const MTIME: u64 = 1_600_000_000;
const LAYER: &str = r#"{"v":"1","t":"layer","pkg":"hostile","version":"6.6.6"}"#;

// ---------------------------------------------------------------------------
// Archives

/// A tar being built in memory. Names and link targets are written raw into
/// the header (or GNU long-name entries), so hostile names reach the archive
/// unchanged (the tar crate's own path setters refuse `..`).
struct Img {
    b: tar::Builder<Vec<u8>>,
}

fn header(ty: EntryType, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(ty);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

impl Img {
    fn empty() -> Img {
        Img {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn with_meta(json: &str) -> Img {
        let mut i = Img::empty();
        i.file("oxide.json", json.as_bytes(), 0o644);
        i
    }

    fn layer() -> Img {
        Img::with_meta(LAYER)
    }

    /// Any entry: name and link target as raw bytes; either longer than the
    /// header's 100 bytes goes into a GNU long name / long link entry first.
    fn entry(
        &mut self,
        ty: EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        mode: u32,
    ) -> &mut Self {
        for (long_ty, value) in [
            (EntryType::GNULongName, name),
            (EntryType::GNULongLink, link),
        ] {
            if value.len() > 100 {
                let mut l = header(long_ty, value.len() as u64 + 1, 0o644);
                l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                l.set_cksum();
                let mut v = value.to_vec();
                v.push(0);
                self.b.append(&l, &v[..]).unwrap();
            }
        }
        let mut h = header(ty, data.len() as u64, mode);
        let old = h.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        let n = link.len().min(100);
        old.linkname[..n].copy_from_slice(&link[..n]);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Self {
        self.entry(EntryType::Regular, name.as_bytes(), b"", data, mode)
    }

    fn dir(&mut self, name: &str, mode: u32) -> &mut Self {
        self.entry(EntryType::Directory, name.as_bytes(), b"", b"", mode)
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(
            EntryType::Symlink,
            name.as_bytes(),
            target.as_bytes(),
            b"",
            0o777,
        )
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(
            EntryType::Link,
            name.as_bytes(),
            target.as_bytes(),
            b"",
            0o644,
        )
    }

    /// PAX records for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    fn tar(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }

    fn gz(self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

// ---------------------------------------------------------------------------
// The world around the zone root

/// What a tree looks like, to compare before and after.
type Tree = BTreeMap<PathBuf, String>;

fn tree(top: &Path) -> Tree {
    let mut out = Tree::new();
    let mut todo = vec![top.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                todo.push(p.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&p).unwrap())
            } else {
                format!(
                    "file {:?}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                )
            };
            let line = format!(
                "{what} mode={:o} {}:{} nlink={} mtime={}.{} ctime={}.{}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.nlink(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            );
            out.insert(p.strip_prefix(top).unwrap().to_owned(), line);
        }
    }
    out
}

fn names(dir: &Path) -> BTreeSet<OsString> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    }
}

/// The names of this binary's tests (their datasets and sentinels), which
/// run alongside one another.
const ALL_TESTS: &[&str] = &[
    "hostile_links",
    "hostile_input",
    "hostile_bounds",
    "hostile_signals",
    "hostile_memory",
    "hostile_fds",
];

/// One test function's world: a fixture (one template) and its sentinels.
struct Ctx {
    f: Fixture,
    test: &'static str,
    /// `/tmp/sentinel-<test>`: what absolute links aim at.
    abs_sentinel: PathBuf,
    /// `/tmp/tp/<test>/sentinel`: what `..` chains from a zone root reach.
    rel_sentinel: PathBuf,
    /// Names of the other hostile tests, whose setup may run alongside.
    others: Vec<&'static str>,
}

/// Sentinel contents: a file, a nested file, a directory with a set mode, a link.
fn make_sentinel(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("d")).unwrap();
    std::fs::set_permissions(dir.join("d"), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(dir.join("keep"), b"do not touch\n").unwrap();
    std::fs::write(dir.join("etc/passwd"), b"sentinel:x:0:0::/:/bin/false\n").unwrap();
    symlink("keep", dir.join("link")).unwrap();
}

/// The state outside the zone roots that no install may change.
#[derive(Debug, PartialEq)]
struct Outside {
    sentinels: Vec<Tree>,
    listings: BTreeMap<PathBuf, BTreeSet<OsString>>,
}

impl Ctx {
    fn new(test: &'static str) -> Ctx {
        let others = ALL_TESTS.iter().copied().filter(|t| *t != test).collect();
        let f = Fixture::new(test);
        let abs_sentinel = PathBuf::from(format!("/tmp/sentinel-{test}"));
        let rel_sentinel = f.mountpoint.join("sentinel");
        make_sentinel(&abs_sentinel);
        make_sentinel(&rel_sentinel);
        // Links in the system tree, replicated into the template, that lead out
        // of a zone root if followed on the host: to `/`, up to the test's
        // dataset (zone root/usr/up -> /tmp/tp/<test>), and to the sentinel.
        let usr = f.source_root.join("usr");
        symlink("/", usr.join("escape")).unwrap();
        symlink("../../../..", usr.join("up")).unwrap();
        symlink(&abs_sentinel, usr.join("hostsentinel")).unwrap();
        symlink(
            format!("{}tmp/sentinel-{test}", "../".repeat(12)),
            usr.join("deep"),
        )
        .unwrap();
        Ctx {
            f,
            test,
            abs_sentinel,
            rel_sentinel,
            others,
        }
    }

    /// The absolute sentinel's path as text.
    fn abs(&self) -> String {
        self.abs_sentinel.display().to_string()
    }

    /// Writes image number `n` of `zone`.
    fn image(&self, zone: &str, n: usize, bytes: &[u8]) -> PathBuf {
        let p = self.f.dir.join(format!("{zone}-{n}.tar.gz"));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Whether a name in `/tmp` or `/tmp/tp` belongs to another hostile test.
    fn others_name(&self, name: &OsString) -> bool {
        let name = name.to_string_lossy();
        self.others
            .iter()
            .any(|o| name == *o || name == format!("sentinel-{o}"))
    }

    fn outside(&self) -> Outside {
        let mut listings = BTreeMap::new();
        for dir in ["/", "/tmp", "/tmp/tp"] {
            let mut n = names(Path::new(dir));
            n.retain(|name| !self.others_name(name));
            if dir != "/" {
                // The guest's /tmp shows the host's, and other test binaries
                // make datasets in /tmp/tp, while these tests run: compare only
                // the names a payload here would make.
                n.retain(|name| {
                    let name = name.to_string_lossy();
                    name.contains("pwned") || name.starts_with("sentinel") || name == self.test
                });
            }
            listings.insert(PathBuf::from(dir), n);
        }
        for dir in [
            self.f.mountpoint.clone(),
            self.f.mountpoint.join("zones"),
            self.f.dir.clone(),
        ] {
            listings.insert(dir.clone(), names(&dir));
        }
        Outside {
            sentinels: vec![tree(&self.abs_sentinel), tree(&self.rel_sentinel)],
            listings,
        }
    }

    /// The one template's dataset.
    fn template(&self) -> DatasetName {
        let templates = self.f.zfs.children(&self.f.templates()).unwrap();
        assert_eq!(templates.len(), 1, "one template: {templates:?}");
        templates[0].clone()
    }

    /// The template's identity and size: must never change after it is built.
    fn template_state(&self, dataset: &DatasetName) -> Vec<String> {
        let snapshot = dataset.snapshot("ready").unwrap();
        let mut out = vec![format!("{dataset}")];
        for (object, props) in [
            (
                (&snapshot).into(),
                &["guid", "referenced", "written", "createtxg"][..],
            ),
            (
                dataset.into(),
                &["guid", "referenced", "written", "mounted", "origin"][..],
            ),
        ] {
            let got = self.f.zfs.get(object, props).unwrap();
            for p in props {
                out.push(format!(
                    "{p}={:?}",
                    got.get(*p).and_then(|v| v.value.clone())
                ));
            }
        }
        out
    }
}

/// Reads a file at a path too long to hand to the kernel whole, component
/// by component from `root`.
fn read_deep(root: &Path, comps: &[Vec<u8>]) -> Vec<u8> {
    use nix::fcntl::{open, openat, OFlag};
    use nix::sys::stat::Mode;
    let own = |fd| unsafe { OwnedFd::from_raw_fd(fd) };
    let mut dir = own(open(root, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap());
    let (last, parents) = comps.split_last().unwrap();
    for c in parents {
        let os = std::ffi::OsStr::from_bytes(c);
        dir = own(openat(
            Some(dir.as_raw_fd()),
            os,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .unwrap());
    }
    let fd = openat(
        Some(dir.as_raw_fd()),
        std::ffi::OsStr::from_bytes(last),
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .unwrap();
    let mut f = std::fs::File::from(own(fd));
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut v).unwrap();
    v
}

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The zone root's path for `rel`, where `rel` may start with the absolute
/// sentinel's path.
fn zp(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

// ---------------------------------------------------------------------------
// Cases

/// Makes the images of one case (zone `zone`, its zonepath dataset already
/// made); the last image is the one a rejection must name.
type Build = fn(&Ctx, &str) -> Vec<PathBuf>;
/// Checks an accepted case's zone root.
type Check = fn(&Ctx, &Path);

enum Expect {
    /// Exit 254; stderr names the last image and holds each fragment (one of
    /// its `|`-separated alternatives).
    Rejected(&'static [&'static str]),
    /// Exit 0, then the check.
    Accepted(Check),
}

struct Case {
    name: &'static str,
    build: Build,
    expect: Expect,
}

fn one(ctx: &Ctx, zone: &str, img: Img) -> Vec<PathBuf> {
    vec![ctx.image(zone, 0, &img.gz())]
}

fn run_case(
    ctx: &Ctx,
    case: &Case,
    template: &DatasetName,
    state: &[String],
) -> std::time::Duration {
    let f = &ctx.f;
    let zone = case.name;
    let zonepath = f.zonepath(zone);
    let images = (case.build)(ctx, zone);
    let before = ctx.outside();
    let zonepath_before = names(&zonepath);

    let mut args = vec!["install".to_string()];
    args.extend(images.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let out = f.hook(zone, &zonepath, &args);
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let root_ds = f.root_dataset(zone);
    let root = zonepath.join("root");

    match &case.expect {
        Expect::Rejected(fragments) => {
            assert_eq!(out.status.code(), Some(254), "{zone}: exit 254: {stderr}");
            let image = images.last().unwrap().display().to_string();
            assert!(
                stderr.contains(&image),
                "{zone}: names the image {image}: {stderr}"
            );
            for fragment in *fragments {
                let found = fragment.split('|').any(|alt| stderr.contains(alt));
                assert!(found, "{zone}: wanted {fragment:?} in {stderr}");
            }
            assert!(!f.installed(zone), "{zone}: no zone is left");
            assert!(
                f.zfs.exists((&root_ds).into()).unwrap(),
                "{zone}: the empty zonepath dataset is back"
            );
            let left = names(&zonepath);
            assert!(
                left.is_subset(&BTreeSet::from([OsString::from("root")])),
                "{zone}: {left:?}"
            );
            assert!(
                names(&root).is_empty(),
                "{zone}: no files are left under {}",
                root.display()
            );
        }
        Expect::Accepted(check) => {
            assert_eq!(out.status.code(), Some(0), "{zone}: exit 0: {stderr}");
            assert_eq!(
                f.zfs
                    .get_value((&root_ds).into(), "omicron1:state")
                    .unwrap()
                    .as_deref(),
                Some("installed")
            );
            check(ctx, &root);
        }
    }
    assert!(
        zonepath_before.is_empty(),
        "{zone}: the zonepath was empty before"
    );
    assert_eq!(
        ctx.outside(),
        before,
        "{zone}: something outside the zone root changed"
    );
    assert_eq!(
        ctx.template_state(template),
        state,
        "{zone}: the template changed"
    );
    took
}

/// Runs every case (collecting failures, so one VM run reports them all),
/// then a good install, which must still clone the template.
fn run(ctx: &Ctx, cases: &[Case]) {
    assert!(cases.len() >= 10);
    let timed: Vec<(&Case, Option<Duration>)> = cases.iter().map(|c| (c, None)).collect();
    run_timed(ctx, &timed);
}

/// [`run`], with a bound on the time of each case's install where given.
fn run_timed(ctx: &Ctx, cases: &[(&Case, Option<Duration>)]) {
    let mut seen = BTreeSet::new();
    for (c, _) in cases {
        assert!(
            seen.insert(c.name),
            "case names are zone names and unique: {}",
            c.name
        );
    }
    // The first install builds the template, with the links above in it.
    let warm = ctx.image("warm", 0, &{
        let mut i = Img::layer();
        i.file("root/opt/warm", b"warm\n", 0o644);
        i.gz()
    });
    let warm_zp = ctx.f.zonepath("warm");
    let out = ctx
        .f
        .hook("warm", &warm_zp, &["install", warm.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let root = warm_zp.join("root");
    assert_eq!(
        std::fs::read_link(root.join("usr/escape")).unwrap(),
        Path::new("/")
    );
    assert_eq!(
        std::fs::read_link(root.join("usr/up")).unwrap(),
        Path::new("../../../..")
    );
    let template = ctx.template();
    let state = ctx.template_state(&template);

    let mut failures = Vec::new();
    for (case, within) in cases {
        eprintln!("==> case {} ({})", case.name, ctx.test);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let took = run_case(ctx, case, &template, &state);
            eprintln!("    install took {took:?}");
            if let Some(within) = within {
                assert!(
                    took <= *within,
                    "{}: the install took {took:?}, more than {within:?}",
                    case.name
                );
            }
        }));
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    let zp = ctx.f.zonepath("final");
    let out = ctx
        .f
        .hook("final", &zp, &["install", warm.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the template still clones: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(read(&zp.join("root/opt/warm")), b"warm\n");
    assert_eq!(read(&zp.join("root/etc/motd")), b"baseline motd\n");
    assert_eq!(ctx.template(), template, "still the one template");
    assert_eq!(ctx.template_state(&template), state);
}

// --- Escapes: names, links and hard links ----------------------------------

fn links_cases() -> Vec<Case> {
    vec![
        Case {
            name: "dotdot-name",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/opt/fine", b"fine", 0o644).file(
                    "root/../../../../sentinel/pwned-dotdot",
                    b"pwned",
                    0o644,
                );
                one(c, z, i)
            },
            expect: Expect::Rejected(&[
                "root/../../../../sentinel/pwned-dotdot",
                "'..' components are not allowed",
            ]),
        },
        Case {
            name: "dotdot-inside-name",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/opt/a/../../../pwned-inner", b"pwned", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/a/../../../pwned-inner", "'..' components"]),
        },
        Case {
            name: "dotdot-hardlink",
            build: |c, z| {
                let mut i = Img::layer();
                i.hardlink("root/opt/h", "root/../../../../sentinel/keep");
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/h", "hard link target", "not allowed"]),
        },
        Case {
            name: "absolute-name",
            build: |c, z| {
                let mut i = Img::layer();
                i.file(&format!("{}/pwned-abs", c.abs()), b"pwned", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["pwned-abs", "absolute names are not allowed"]),
        },
        Case {
            name: "absolute-hardlink",
            build: |c, z| {
                let mut i = Img::layer();
                i.hardlink("root/opt/h", &format!("{}/keep", c.abs()));
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/h", "hard link target", "not allowed"]),
        },
        Case {
            name: "hardlink-outside-root",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("etc/shadow", b"not installed", 0o600)
                    .hardlink("root/opt/h", "etc/shadow");
                one(c, z, i)
            },
            expect: Expect::Rejected(&[
                "root/opt/h",
                "hard links may only point at files under root/",
            ]),
        },
        Case {
            name: "hardlink-through-symlink",
            build: |c, z| {
                let mut i = Img::layer();
                i.symlink("root/opt/l", &c.abs())
                    .hardlink("root/opt/h", "root/opt/l/keep");
                one(c, z, i)
            },
            // Resolved inside the zone, where there is no such file.
            expect: Expect::Rejected(&["root/opt/h", "does not exist"]),
        },
        Case {
            name: "hardlink-to-template-file",
            build: |c, z| {
                // A link to a file the zone has (from the baseline), then a new
                // file at the link's name: the original must not change.
                let mut i = Img::layer();
                i.hardlink("root/opt/passwd", "root/etc/passwd").file(
                    "root/opt/passwd",
                    b"pwned\n",
                    0o644,
                );
                one(c, z, i)
            },
            expect: Expect::Accepted(|_, root| {
                assert_eq!(
                    read(&root.join("etc/passwd")),
                    b"root:x:0:0::/root:/bin/sh\n"
                );
                assert_eq!(read(&root.join("opt/passwd")), b"pwned\n");
                assert_eq!(
                    std::fs::metadata(root.join("etc/passwd")).unwrap().nlink(),
                    1
                );
            }),
        },
        Case {
            name: "symlink-absolute-then-files",
            build: |c, z| {
                let mut i = Img::layer();
                i.symlink("root/s", &c.abs())
                    .file("root/s/keep", b"pwned\n", 0o644)
                    .file("root/s/pwned-new", b"pwned\n", 0o4755)
                    .dir("root/s/d", 0o777);
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                assert!(is_link(&root.join("s")));
                let inside = zp(root, &c.abs());
                assert_eq!(read(&inside.join("keep")), b"pwned\n");
                assert_eq!(read(&inside.join("pwned-new")), b"pwned\n");
                assert_eq!(
                    std::fs::metadata(inside.join("d")).unwrap().mode() & 0o7777,
                    0o777
                );
            }),
        },
        Case {
            name: "symlink-relative-deep",
            build: |c, z| {
                // From the zone root on the host: 12 levels up is `/`.
                let mut i = Img::layer();
                i.symlink(
                    "root/opt/up",
                    &format!("{}tmp/sentinel-{}", "../".repeat(12), c.test),
                )
                .file("root/opt/up/keep", b"pwned\n", 0o644)
                .symlink("root/near", "../../../sentinel")
                .file("root/near/keep", b"pwned\n", 0o644)
                .file("root/near/pwned-near", b"pwned\n", 0o644);
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                assert_eq!(read(&zp(root, &c.abs()).join("keep")), b"pwned\n");
                // `../../../sentinel` from the zone root is the zone's /sentinel.
                assert_eq!(read(&root.join("sentinel/keep")), b"pwned\n");
                assert_eq!(read(&root.join("sentinel/pwned-near")), b"pwned\n");
            }),
        },
        Case {
            name: "symlink-chain",
            build: |c, z| {
                // a -> x/../../.. ; x -> y ; y -> / ; then through a.
                let mut i = Img::layer();
                i.symlink("root/opt/a", "x/../../..")
                    .symlink("root/opt/x", "y")
                    .symlink("root/opt/y", "/")
                    .file(
                        &format!("root/opt/a/{}/pwned-chain", c.abs().trim_start_matches('/')),
                        b"pwned\n",
                        0o644,
                    );
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                assert_eq!(read(&zp(root, &c.abs()).join("pwned-chain")), b"pwned\n");
            }),
        },
        Case {
            name: "symlink-then-directory-entry",
            build: |c, z| {
                // tar-rs GHSA: a link, then a directory entry of the same name
                // with a new mode (which must not reach the link's target).
                let mut i = Img::layer();
                i.symlink("root/d1", &format!("{}/d", c.abs()))
                    .dir("root/d1", 0o777)
                    .symlink("root/d2", "../../../sentinel/d")
                    .dir("root/d2", 0o777);
                one(c, z, i)
            },
            expect: Expect::Accepted(|_, root| {
                // Neither target exists in the zone: each became a directory.
                for d in ["d1", "d2"] {
                    let m = std::fs::symlink_metadata(root.join(d)).unwrap();
                    assert!(m.is_dir(), "{d}");
                    assert_eq!(m.mode() & 0o7777, 0o777, "{d}");
                }
            }),
        },
        Case {
            name: "symlink-loop",
            build: |c, z| {
                let mut i = Img::layer();
                i.symlink("root/opt/a", "b")
                    .symlink("root/opt/b", "/opt/a")
                    .file("root/opt/a/x", b"x", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/a/x", "too many levels of symbolic links"]),
        },
        Case {
            name: "layer-plants-absolute-link",
            build: |c, z| {
                let mut first = Img::with_meta(LAYER);
                first.symlink("root/opt/s", &c.abs());
                let mut second = Img::layer();
                second.file("root/opt/s/keep", b"pwned\n", 0o644).file(
                    "root/opt/s/etc/passwd",
                    b"pwned\n",
                    0o644,
                );
                vec![c.image(z, 0, &first.gz()), c.image(z, 1, &second.gz())]
            },
            expect: Expect::Accepted(|c, root| {
                assert!(is_link(&root.join("opt/s")));
                let inside = zp(root, &c.abs());
                assert_eq!(read(&inside.join("keep")), b"pwned\n");
                assert_eq!(read(&inside.join("etc/passwd")), b"pwned\n");
            }),
        },
        Case {
            name: "layer-plants-dotdot-link",
            build: |c, z| {
                let mut first = Img::layer();
                // On the host, from the zone root's var: the test's dataset.
                first.symlink("root/var/up", "../../../..");
                let mut second = Img::layer();
                second
                    .file("root/var/up/sentinel/keep", b"pwned\n", 0o644)
                    .file(
                        &format!("root/var/up/{}/keep", c.abs().trim_start_matches('/')),
                        b"pwned\n",
                        0o644,
                    );
                vec![c.image(z, 0, &first.gz()), c.image(z, 1, &second.gz())]
            },
            expect: Expect::Accepted(|c, root| {
                assert_eq!(read(&root.join("sentinel/keep")), b"pwned\n");
                assert_eq!(read(&zp(root, &c.abs()).join("keep")), b"pwned\n");
            }),
        },
        Case {
            name: "layer-link-replaced-by-file",
            build: |c, z| {
                let mut first = Img::layer();
                first.symlink("root/etc/motd", &format!("{}/keep", c.abs()));
                let mut second = Img::layer();
                second.file("root/etc/motd", b"zone motd\n", 0o644);
                vec![c.image(z, 0, &first.gz()), c.image(z, 1, &second.gz())]
            },
            expect: Expect::Accepted(|_, root| {
                assert!(
                    !is_link(&root.join("etc/motd")),
                    "the link is replaced, not written through"
                );
                assert_eq!(read(&root.join("etc/motd")), b"zone motd\n");
            }),
        },
        Case {
            name: "hostile-second-layer-rolls-back-first",
            build: |c, z| {
                let mut first = Img::layer();
                first
                    .symlink("root/opt/s", &c.abs())
                    .file("root/opt/first", b"first\n", 0o644);
                let mut second = Img::layer();
                second.file("root/opt/s/pwned", b"pwned\n", 0o644).file(
                    "root/../pwned-second",
                    b"pwned",
                    0o644,
                );
                vec![c.image(z, 0, &first.gz()), c.image(z, 1, &second.gz())]
            },
            expect: Expect::Rejected(&["root/../pwned-second", "'..' components"]),
        },
        Case {
            name: "template-link-to-slash",
            build: |c, z| {
                let mut i = Img::layer();
                i.file(
                    &format!("root/usr/escape/{}/keep", c.abs().trim_start_matches('/')),
                    b"pwned\n",
                    0o644,
                )
                .file("root/usr/escape/pwned-top", b"pwned\n", 0o644);
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                assert!(is_link(&root.join("usr/escape")));
                assert_eq!(read(&zp(root, &c.abs()).join("keep")), b"pwned\n");
                assert_eq!(read(&root.join("pwned-top")), b"pwned\n");
            }),
        },
        Case {
            name: "template-link-up",
            build: |c, z| {
                // usr/up -> ../../../.. : on the host, the test's own dataset.
                let mut i = Img::layer();
                i.file("root/usr/up/sentinel/keep", b"pwned\n", 0o644)
                    .dir("root/usr/up/sentinel/d", 0o777)
                    .symlink("root/usr/up/sentinel/link", "/etc/shadow");
                one(c, z, i)
            },
            expect: Expect::Accepted(|_, root| {
                assert_eq!(read(&root.join("sentinel/keep")), b"pwned\n");
                assert_eq!(
                    std::fs::metadata(root.join("sentinel/d")).unwrap().mode() & 0o7777,
                    0o777
                );
                assert_eq!(
                    std::fs::read_link(root.join("sentinel/link")).unwrap(),
                    Path::new("/etc/shadow")
                );
            }),
        },
        Case {
            name: "template-link-to-host-path",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/usr/hostsentinel/keep", b"pwned\n", 0o644)
                    .file("root/usr/deep/etc/passwd", b"pwned\n", 0o644)
                    .hardlink("root/opt/h", "root/usr/hostsentinel/keep");
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                let inside = zp(root, &c.abs());
                assert_eq!(read(&inside.join("keep")), b"pwned\n");
                assert_eq!(read(&inside.join("etc/passwd")), b"pwned\n");
                let a = std::fs::metadata(inside.join("keep")).unwrap();
                let b = std::fs::metadata(root.join("opt/h")).unwrap();
                assert_eq!(a.ino(), b.ino(), "the hard link is to the zone's copy");
            }),
        },
        Case {
            name: "template-links-replaced",
            build: |c, z| {
                // A file over the template's `usr/bin/hi -> hello` replaces the
                // link; a directory entry over `usr/escape -> /` keeps it and
                // changes nothing through it (here: the zone root's mode).
                let mut i = Img::layer();
                i.file("root/usr/bin/hi", b"mine\n", 0o755)
                    .dir("root/usr/escape", 0o700);
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                assert!(!is_link(&root.join("usr/bin/hi")));
                assert_eq!(read(&root.join("usr/bin/hi")), b"mine\n");
                assert!(
                    is_link(&root.join("usr/bin/hello")),
                    "the link's target is untouched"
                );
                assert_eq!(
                    std::fs::read_link(root.join("usr/escape")).unwrap(),
                    Path::new("/")
                );
                let warm = c.f.mountpoint.join("zones/warm/root");
                let mode = |p: &Path| std::fs::metadata(p).unwrap().mode();
                assert_eq!(mode(root), mode(&warm), "the zone root keeps its mode");
            }),
        },
    ]
}

// --- Types, names, metadata, streams, resources ----------------------------

/// A good image's bytes, to break.
fn good_gz() -> Vec<u8> {
    let mut i = Img::layer();
    i.file("root/opt/data", &[7u8; 64 * 1024], 0o644);
    i.gz()
}

/// A large image, compressed by the system's gzip (much faster than the
/// tests' unoptimised build under emulation).
fn gzip_with_command(c: &Ctx, z: &str, img: Img) -> PathBuf {
    let tar = c.f.dir.join(format!("{z}.tar"));
    std::fs::write(&tar, img.tar()).unwrap();
    let image = c.f.dir.join(format!("{z}-0.tar.gz"));
    let status = Command::new("gzip")
        .arg("-1c")
        .arg(&tar)
        .stdout(Stdio::from(std::fs::File::create(&image).unwrap()))
        .status()
        .unwrap();
    assert!(status.success(), "gzip {}", tar.display());
    std::fs::remove_file(&tar).unwrap();
    image
}

fn bytes(c: &Ctx, z: &str, b: &[u8]) -> Vec<PathBuf> {
    vec![c.image(z, 0, b)]
}

/// `root/opt/` and 20 components of 240 bytes: a path of about 4.8 KB.
fn deep_components() -> Vec<Vec<u8>> {
    let mut comps = vec![b"opt".to_vec()];
    for n in 0..20 {
        comps.push(format!("{n:02}{}", "p".repeat(238)).into_bytes());
    }
    comps.push(b"file".to_vec());
    comps
}

fn input_cases() -> Vec<Case> {
    vec![
        Case {
            name: "device-char",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(EntryType::Char, b"root/dev/pwned-null", b"", b"", 0o666);
                one(c, z, i)
            },
            expect: Expect::Rejected(&[
                "root/dev/pwned-null",
                "device nodes and FIFOs are not allowed",
            ]),
        },
        Case {
            name: "device-block",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(EntryType::Block, b"root/dev/pwned-disk", b"", b"", 0o660);
                one(c, z, i)
            },
            expect: Expect::Rejected(&[
                "root/dev/pwned-disk",
                "device nodes and FIFOs are not allowed",
            ]),
        },
        Case {
            name: "fifo",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(EntryType::Fifo, b"root/tmp/pwned-fifo", b"", b"", 0o666);
                one(c, z, i)
            },
            expect: Expect::Rejected(&[
                "root/tmp/pwned-fifo",
                "device nodes and FIFOs are not allowed",
            ]),
        },
        Case {
            name: "unknown-entry-type",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(EntryType::new(b'V'), b"root/opt/volume", b"", b"", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/volume", "unsupported entry type 'V'"]),
        },
        Case {
            name: "usr-becomes-a-file",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/usr", b"not a directory", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&[
                "\"root/usr\"",
                "type conflict",
                "a directory is never replaced",
            ]),
        },
        Case {
            name: "file-becomes-a-directory",
            build: |c, z| {
                let mut i = Img::layer();
                i.dir("root/etc/motd", 0o755);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/etc/motd", "type conflict", "makes this a directory"]),
        },
        Case {
            name: "symlink-over-a-directory",
            build: |c, z| {
                let mut i = Img::layer();
                i.symlink("root/etc", &c.abs());
                one(c, z, i)
            },
            expect: Expect::Rejected(&["\"root/etc\"", "type conflict"]),
        },
        Case {
            name: "hardlink-to-a-directory",
            build: |c, z| {
                let mut i = Img::layer();
                i.hardlink("root/opt/h", "root/etc");
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/h", "is a directory"]),
        },
        Case {
            name: "symlink-without-target",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(EntryType::Symlink, b"root/opt/l", b"", b"", 0o777);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/l", "symbolic link has no target"]),
        },
        Case {
            name: "name-over-255-bytes",
            build: |c, z| {
                let mut i = Img::layer();
                i.file(&format!("root/opt/{}", "n".repeat(300)), b"long", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/nnnnnnnnnn", "File name too long"]),
        },
        Case {
            name: "path-over-path-max",
            build: |c, z| {
                let mut name = b"root".to_vec();
                for comp in deep_components() {
                    name.push(b'/');
                    name.extend_from_slice(&comp);
                }
                assert!(name.len() > 4096);
                let mut i = Img::layer();
                i.entry(EntryType::Regular, &name, b"", b"deep\n", 0o644);
                one(c, z, i)
            },
            // Every component is resolved on its own, so the whole path may be
            // longer than the kernel takes at once; it lands in the zone.
            expect: Expect::Accepted(|_, root| {
                assert_eq!(read_deep(root, &deep_components()), b"deep\n");
            }),
        },
        Case {
            name: "non-utf8-names",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(
                    EntryType::Regular,
                    b"root/opt/caf\xe9",
                    b"",
                    b"latin1\n",
                    0o644,
                )
                .entry(EntryType::Directory, b"root/opt/\xff\xfe/", b"", b"", 0o755)
                .entry(
                    EntryType::Regular,
                    b"root/opt/\xff\xfe/x",
                    b"",
                    b"x\n",
                    0o644,
                )
                .entry(
                    EntryType::Symlink,
                    b"root/opt/l\x80",
                    b"caf\xe9",
                    b"",
                    0o777,
                );
                one(c, z, i)
            },
            expect: Expect::Accepted(|_, root| {
                let opt = root.join("opt");
                let p = |b: &[u8]| opt.join(std::ffi::OsStr::from_bytes(b));
                assert_eq!(read(&p(b"caf\xe9")), b"latin1\n");
                assert_eq!(read(&p(b"\xff\xfe/x")), b"x\n");
                assert_eq!(
                    std::fs::read_link(p(b"l\x80"))
                        .unwrap()
                        .into_os_string()
                        .into_vec(),
                    b"caf\xe9"
                );
            }),
        },
        Case {
            name: "non-utf8-hostile-name",
            build: |c, z| {
                let mut i = Img::layer();
                i.entry(
                    EntryType::Regular,
                    b"root/\xff/../../pwned",
                    b"",
                    b"pwned",
                    0o644,
                );
                one(c, z, i)
            },
            expect: Expect::Rejected(&["/../../pwned", "'..' components"]),
        },
        Case {
            name: "duplicate-entries",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/opt/dup", b"first\n", 0o600)
                    .file("root/opt/dup", b"second\n", 0o644)
                    .dir("root/opt/dd", 0o700)
                    .dir("root/opt/dd", 0o750)
                    .symlink("root/opt/l", "first")
                    .symlink("root/opt/l", "second")
                    .hardlink("root/opt/h", "root/opt/dup")
                    .hardlink("root/opt/h", "root/opt/dup");
                one(c, z, i)
            },
            expect: Expect::Accepted(|_, root| {
                assert_eq!(read(&root.join("opt/dup")), b"second\n");
                assert_eq!(
                    std::fs::metadata(root.join("opt/dup")).unwrap().mode() & 0o7777,
                    0o644
                );
                assert_eq!(
                    std::fs::metadata(root.join("opt/dd")).unwrap().mode() & 0o7777,
                    0o750
                );
                assert_eq!(
                    std::fs::read_link(root.join("opt/l")).unwrap(),
                    Path::new("second")
                );
                assert_eq!(std::fs::metadata(root.join("opt/dup")).unwrap().nlink(), 2);
            }),
        },
        Case {
            name: "metadata-missing",
            build: |c, z| {
                let mut i = Img::empty();
                i.file("README", b"no metadata", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["bad metadata", "no oxide.json"]),
        },
        Case {
            name: "metadata-after-root",
            build: |c, z| {
                let mut i = Img::empty();
                i.file("root/opt/early", b"early", 0o644).file(
                    "oxide.json",
                    LAYER.as_bytes(),
                    0o644,
                );
                one(c, z, i)
            },
            expect: Expect::Rejected(&["oxide.json must come before the first root/ entry"]),
        },
        Case {
            name: "metadata-duplicated",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/opt/x", b"x", 0o644).file(
                    "./oxide.json",
                    br#"{"v":"1","t":"baseline"}"#,
                    0o644,
                );
                one(c, z, i)
            },
            expect: Expect::Rejected(&["oxide.json appears more than once"]),
        },
        Case {
            name: "metadata-not-json",
            build: |c, z| one(c, z, Img::with_meta("v=1 t=layer")),
            expect: Expect::Rejected(&["oxide.json is not valid JSON"]),
        },
        Case {
            name: "metadata-wrong-v",
            build: |c, z| one(c, z, Img::with_meta(r#"{"v":"2","t":"layer"}"#)),
            expect: Expect::Rejected(&["format version v=\"2\""]),
        },
        Case {
            name: "metadata-t-baseline",
            build: |c, z| {
                let mut i = Img::with_meta(r#"{"v":"1","t":"baseline"}"#);
                i.file("root/etc/passwd", b"pwned", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["t=\"baseline\"", "a layer image (t=\"layer\") is needed"]),
        },
        Case {
            name: "metadata-t-os",
            build: |c, z| one(c, z, Img::with_meta(r#"{"v":"1","t":"os"}"#)),
            expect: Expect::Rejected(&["unknown image type t=\"os\""]),
        },
        Case {
            name: "metadata-t-unknown",
            build: |c, z| one(c, z, Img::with_meta(r#"{"v":"1","t":"zfs-send-stream"}"#)),
            expect: Expect::Rejected(&["unknown image type t=\"zfs-send-stream\""]),
        },
        Case {
            name: "metadata-not-a-file",
            build: |c, z| {
                let mut i = Img::empty();
                i.symlink("oxide.json", "/etc/passwd");
                one(c, z, i)
            },
            expect: Expect::Rejected(&["oxide.json must be a regular file"]),
        },
        Case {
            name: "metadata-too-large",
            build: |c, z| {
                let json = format!(r#"{{"v":"1","t":"layer","pad":"{}"}}"#, "x".repeat(70_000));
                one(c, z, Img::with_meta(&json))
            },
            expect: Expect::Rejected(&["more than the 65536 allowed"]),
        },
        Case {
            name: "metadata-extra-fields",
            build: |c, z| {
                let mut i = Img::with_meta(
                    r#"{"v":"1","t":"layer","pkg":"extra","version":"2.0","hash":{"sha":"x"},"future":[1,2]}"#,
                );
                i.file("root/opt/extra", b"extra\n", 0o644);
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                assert_eq!(read(&root.join("opt/extra")), b"extra\n");
                let ds = c.f.root_dataset("metadata-extra-fields");
                let get = |p: &str| c.f.zfs.get_value((&ds).into(), p).unwrap();
                assert_eq!(get("omicron1:image.0.pkg").as_deref(), Some("extra"));
                assert_eq!(get("omicron1:image.0.version").as_deref(), Some("2.0"));
            }),
        },
        Case {
            name: "entries-outside-root-ignored",
            build: |c, z| {
                let mut i = Img::layer();
                // A PAX global header: its name and records are not for the installer.
                i.entry(
                    EntryType::XGlobalHeader,
                    b"pax_global_header",
                    b"",
                    b"19 path=/etc/pwned\n",
                    0o644,
                );
                i.file("README", b"readme", 0o644)
                    .file("etc/pwned-outside", b"pwned", 0o644)
                    .file("rootfs/pwned", b"pwned", 0o644)
                    .file("./pwned-dot", b"pwned", 0o644)
                    .file("sub/root/pwned", b"pwned", 0o644)
                    .file("root/opt/inside", b"inside\n", 0o644);
                one(c, z, i)
            },
            expect: Expect::Accepted(|_, root| {
                assert_eq!(read(&root.join("opt/inside")), b"inside\n");
                for p in [
                    "etc/pwned-outside",
                    "rootfs",
                    "pwned-dot",
                    "sub",
                    "README",
                    "pax_global_header",
                ] {
                    assert!(
                        std::fs::symlink_metadata(root.join(p)).is_err(),
                        "{p} is not installed"
                    );
                }
            }),
        },
        Case {
            name: "zone-root-entry-ignored",
            build: |c, z| {
                let mut i = Img::layer();
                i.dir("root/", 0o777);
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                let warm = c.f.mountpoint.join("zones/warm/root");
                let m = std::fs::metadata(root).unwrap();
                assert_eq!(
                    m.mode(),
                    std::fs::metadata(warm).unwrap().mode(),
                    "the zone root keeps its mode"
                );
                assert_eq!((m.uid(), m.gid()), (0, 0));
            }),
        },
        Case {
            name: "gzip-truncated",
            build: |c, z| {
                let g = good_gz();
                bytes(c, z, &g[..g.len() / 2])
            },
            // Cut inside the deflate stream or inside the entry's data.
            expect: Expect::Rejected(&[
                "corrupt or truncated archive|the archive ends inside its data",
            ]),
        },
        Case {
            name: "gzip-bad-crc",
            build: |c, z| {
                let mut g = good_gz();
                let n = g.len();
                g[n - 8] ^= 0x55;
                bytes(c, z, &g)
            },
            expect: Expect::Rejected(&["corrupt or truncated archive"]),
        },
        Case {
            name: "gzip-trailing-garbage",
            build: |c, z| {
                let mut g = good_gz();
                g.extend_from_slice(b"trailing garbage");
                bytes(c, z, &g)
            },
            expect: Expect::Rejected(&[
                "16 bytes of trailing data after the end of the gzip stream",
            ]),
        },
        Case {
            name: "not-gzip",
            build: |c, z| bytes(c, z, b"BZh91AY&SY this is not gzip"),
            expect: Expect::Rejected(&["not a gzip-compressed tar", "gzip magic bytes"]),
        },
        Case {
            name: "plain-tar",
            build: |c, z| {
                let mut i = Img::layer();
                i.file("root/opt/x", b"x", 0o644);
                bytes(c, z, &i.tar())
            },
            expect: Expect::Rejected(&["it is an uncompressed tar; compress it with gzip"]),
        },
        Case {
            name: "empty-file",
            build: |c, z| bytes(c, z, b""),
            expect: Expect::Rejected(&["the file is empty"]),
        },
        Case {
            name: "gzip-of-garbage",
            build: |c, z| bytes(c, z, &gzip(&[0x42; 4096])),
            expect: Expect::Rejected(&["corrupt or truncated archive"]),
        },
        Case {
            name: "pax-path-escape",
            build: |c, z| {
                let mut i = Img::layer();
                i.pax(&[("path", b"root/../../../../sentinel/pwned-pax")])
                    .file("root/opt/benign", b"pwned", 0o644);
                one(c, z, i)
            },
            // The PAX name is the entry's name (the header's is a decoy).
            expect: Expect::Rejected(&["root/../../../../sentinel/pwned-pax", "'..' components"]),
        },
        Case {
            name: "pax-linkpath-escape",
            build: |c, z| {
                let mut i = Img::layer();
                i.pax(&[("linkpath", b"root/../../../../sentinel/keep")])
                    .hardlink("root/opt/h", "root/opt/benign");
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/h", "hard link target", "sentinel/keep"]),
        },
        Case {
            name: "pax-uid-out-of-range",
            build: |c, z| {
                let mut i = Img::layer();
                i.pax(&[("uid", b"4294967296")])
                    .file("root/opt/owned", b"x", 0o644);
                one(c, z, i)
            },
            expect: Expect::Rejected(&["root/opt/owned", "owner id 4294967296 is out of range"]),
        },
        Case {
            name: "long-names-gnu-and-pax",
            build: |c, z| {
                let long = format!("root/opt/{}/{}", "g".repeat(150), "h".repeat(150));
                let up = format!("{}{}", "../".repeat(60), c.abs().trim_start_matches('/'));
                let mut i = Img::layer();
                i.file(&long, b"gnu\n", 0o644)
                    .symlink("root/opt/longlink", &up)
                    .file("root/opt/longlink/keep", b"pwned\n", 0o644)
                    .pax(&[
                        ("path", format!("root/opt/{}", "x".repeat(200)).as_bytes()),
                        ("linkpath", up.as_bytes()),
                    ])
                    .symlink("root/opt/pax-decoy", "decoy");
                one(c, z, i)
            },
            expect: Expect::Accepted(|c, root| {
                let long = format!("opt/{}/{}", "g".repeat(150), "h".repeat(150));
                assert_eq!(read(&root.join(long)), b"gnu\n");
                assert_eq!(read(&zp(root, &c.abs()).join("keep")), b"pwned\n");
                let pax = root.join(format!("opt/{}", "x".repeat(200)));
                assert!(is_link(&pax), "the PAX name wins over the header's");
                assert!(std::fs::symlink_metadata(root.join("opt/pax-decoy")).is_err());
            }),
        },
        Case {
            name: "long-name-bomb",
            build: |c, z| {
                // A GNU long name of 16 MiB (16 KiB of gzip): refused once it
                // passes the header budget, not read into memory.
                let mut i = Img::layer();
                let mut h = header(EntryType::GNULongName, 16 << 20, 0o644);
                h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
                h.set_cksum();
                i.b.append(&h, std::io::Read::take(std::io::repeat(b'a'), 16 << 20))
                    .unwrap();
                i.file("root/opt/after", b"x", 0o644);
                vec![gzip_with_command(c, z, i)]
            },
            expect: Expect::Rejected(&[
                "corrupt or truncated archive",
                "take more than 1048576 bytes",
            ]),
        },
        Case {
            name: "fills-the-quota",
            build: |c, z| {
                // 4 MiB of quota on the zonepath dataset (which covers the zone
                // root below it) and 32 MiB of zeros to unpack.
                let ds: DatasetName = c.f.zonepath_dataset(z);
                c.f.zfs.set((&ds).into(), &[("quota", "4M")]).unwrap();
                let mut i = Img::layer();
                let size = 32u64 << 20;
                let mut h = header(EntryType::Regular, size, 0o644);
                h.as_old_mut().name[..12].copy_from_slice(b"root/opt/big");
                h.set_cksum();
                i.b.append(&h, std::io::Read::take(std::io::repeat(0), size))
                    .unwrap();
                vec![gzip_with_command(c, z, i)]
            },
            expect: Expect::Rejected(&["root/opt/big", "cannot write the file"]),
        },
    ]
}

// --- Resource bounds: sparse files, links, depth, numbers -----------------

impl Img {
    /// A GNU sparse file of `real` bytes with these data blocks (offset,
    /// length; data `x`), as GNU tar writes one (a hole at the end is a last
    /// block of no data at `real`); at most 4 blocks.
    fn sparse(&mut self, name: &str, real: u64, blocks: &[(u64, u64)]) -> &mut Self {
        let data: u64 = blocks.iter().map(|b| b.1).sum();
        let mut h = header(EntryType::GNUSparse, data, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        let gnu = h.as_gnu_mut().unwrap();
        for (slot, (off, len)) in gnu.sparse.iter_mut().zip(blocks) {
            slot.set_offset(*off);
            slot.set_length(*len);
        }
        gnu.set_real_size(real);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend(std::iter::repeat_n(b'x', data as usize));
        raw.resize(raw.len().div_ceil(512) * 512, 0);
        self.b.get_mut().write_all(&raw).unwrap();
        self
    }

    /// A regular file whose header's `field` (`mtime` or `size`) is these raw bytes.
    fn raw_number(&mut self, name: &str, field: &str, value: [u8; 12]) -> &mut Self {
        let mut h = header(EntryType::Regular, 1, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        match field {
            "mtime" => h.as_old_mut().mtime.copy_from_slice(&value),
            _ => h.as_old_mut().size.copy_from_slice(&value),
        }
        h.set_cksum();
        self.b.append(&h, &b"x"[..]).unwrap();
        self
    }
}

/// `n` components `0/1/.../9/0/...` and a trailing `/`.
fn deep(n: usize) -> String {
    (0..n).map(|i| format!("{}/", i % 10)).collect()
}

/// The zone root dataset's `referenced`, in bytes.
fn referenced(c: &Ctx, zone: &str) -> u64 {
    let ds = c.f.root_dataset(zone);
    c.f.zfs
        .get_value((&ds).into(), "referenced")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap()
}

/// Cases with a bound on the install's time (under emulation, a good install
/// takes a few seconds: the bounds leave room for that, not for a spin).
fn bounds_cases() -> Vec<(Case, Duration)> {
    let quick = Duration::from_secs(60);
    vec![
        (
            Case {
                name: "sparse-huge",
                build: |c, z| {
                    let mut i = Img::layer();
                    let real = 1u64 << 62;
                    i.sparse("root/opt/huge", real, &[(real - 512, 512)]);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&[
                    "root/opt/huge",
                    "sparse file of 4611686018427387904 bytes",
                    "OMICRON1_IMAGE_MAX_BYTES",
                ]),
            },
            quick,
        ),
        (
            Case {
                name: "sparse-holes",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.sparse(
                        "root/opt/holey",
                        8 << 30,
                        &[(0, 512), (4 << 30, 512), (8 << 30, 0)],
                    );
                    one(c, z, i)
                },
                expect: Expect::Accepted(|c, root| {
                    let m = std::fs::metadata(root.join("opt/holey")).unwrap();
                    assert_eq!(m.len(), 8 << 30);
                    assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
                    let r = referenced(c, "sparse-holes");
                    assert!(r < 64 << 20, "the zone root references {r} bytes");
                }),
            },
            quick,
        ),
        (
            Case {
                name: "sparse-map-short",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.sparse("root/opt/short", 1 << 40, &[(0, 512), (4096, 512)]);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["corrupt or truncated archive", "root/opt/short"]),
            },
            quick,
        ),
        (
            Case {
                name: "sparse-overlapping",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.sparse(
                        "root/opt/overlap",
                        8192,
                        &[(0, 1024), (512, 512), (8192, 0)],
                    );
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["corrupt or truncated archive", "root/opt/overlap"]),
            },
            quick,
        ),
        (
            Case {
                name: "link-target-bytes",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.dir("root/opt/d", 0o755);
                    let long = format!("{}d", "d/../".repeat(400));
                    i.symlink("root/opt/a0", &long);
                    for n in 1..40 {
                        i.symlink(&format!("root/opt/a{n}"), &format!("a{}/{long}", n - 1));
                    }
                    for n in 0..5_000 {
                        i.file(&format!("root/opt/a39/f{n}"), b"", 0o644);
                    }
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/a39/f0", "more than 4096 bytes of targets"]),
            },
            quick,
        ),
        (
            Case {
                name: "link-hops",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.dir("root/opt/d", 0o755);
                    i.symlink("root/opt/h0", "d");
                    for n in 1..=41 {
                        i.symlink(&format!("root/opt/h{n}"), &format!("h{}", n - 1));
                    }
                    for n in 0..5_000 {
                        i.file(&format!("root/opt/h41/f{n}"), b"", 0o644);
                    }
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/h41/f0", "too many levels of symbolic links"]),
            },
            quick,
        ),
        (
            Case {
                name: "links-within-budget",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.dir("root/opt/d", 0o755);
                    let pad = format!("{}d", "./".repeat(40));
                    i.symlink("root/opt/b0", &pad);
                    for n in 1..30 {
                        i.symlink(&format!("root/opt/b{n}"), &format!("b{}/../{pad}", n - 1));
                    }
                    for n in 0..1_000 {
                        i.file(&format!("root/opt/b{}/f{n}", n % 30), b"", 0o644);
                    }
                    one(c, z, i)
                },
                expect: Expect::Accepted(|_, root| {
                    assert_eq!(
                        std::fs::read_dir(root.join("opt/d")).unwrap().count(),
                        1_000
                    );
                }),
            },
            Duration::from_secs(120),
        ),
        (
            Case {
                name: "too-deep-by-name",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.file("root/opt/first", b"first", 0o644);
                    i.file(&format!("root/{}file", deep(1100)), b"deep", 0o644);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["more than 1024 directories deep"]),
            },
            quick,
        ),
        (
            Case {
                name: "too-deep-through-a-link",
                build: |c, z| {
                    let mut i = Img::layer();
                    let d = deep(1020);
                    i.file(&format!("root/{d}file"), b"deep", 0o644);
                    i.symlink("root/opt/l", &format!("/{d}"));
                    i.file("root/opt/l/a/b/c/d/e/f", b"too deep", 0o644);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&[
                    "root/opt/l/a/b/c/d/e/f",
                    "more than 1024 directories deep",
                ]),
            },
            quick,
        ),
        (
            Case {
                name: "deep-1000",
                build: |c, z| {
                    let mut i = Img::layer();
                    let d = deep(1000);
                    let mut p = String::from("root/");
                    for n in 0..1000 {
                        p.push_str(&format!("{}/", n % 10));
                        i.dir(&p, 0o755);
                    }
                    i.file(&format!("root/{d}file"), b"deep\n", 0o644);
                    one(c, z, i)
                },
                expect: Expect::Accepted(|_, root| {
                    let comps: Vec<Vec<u8>> = deep(1000)
                        .split('/')
                        .filter(|c| !c.is_empty())
                        .map(|c| c.as_bytes().to_vec())
                        .chain([b"file".to_vec()])
                        .collect();
                    assert_eq!(read_deep(root, &comps), b"deep\n");
                }),
            },
            Duration::from_secs(120),
        ),
        (
            Case {
                name: "pax-mtime-most-negative",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.pax(&[("mtime", b"-9223372036854775808.5")])
                        .file("root/opt/t", b"t", 0o644);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/t", "PAX mtime"]),
            },
            quick,
        ),
        (
            Case {
                name: "pax-mtime-negative",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.pax(&[("mtime", b"-1")]).file("root/opt/t", b"t", 0o644);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/t", "modification time -1 is outside"]),
            },
            quick,
        ),
        (
            Case {
                name: "base256-mtime-2-63",
                build: |c, z| {
                    let mut i = Img::layer();
                    let mut v = [0u8; 12];
                    v[0] = 0x80;
                    v[4] = 0x80;
                    i.raw_number("root/opt/t", "mtime", v);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/t", "modification time 9223372036854775808"]),
            },
            quick,
        ),
        (
            Case {
                name: "base256-size-2-95",
                build: |c, z| {
                    let mut i = Img::layer();
                    let mut v = [0u8; 12];
                    v[0] = 0x80;
                    v[1] = 0x80;
                    i.raw_number("root/opt/s", "size", v);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/s", "unreadable size", "base-256"]),
            },
            quick,
        ),
        (
            Case {
                name: "xattrs-refused",
                build: |c, z| {
                    let mut i = Img::layer();
                    i.pax(&[("SCHILY.xattr.security.capability", b"\x01")])
                        .file("root/opt/cap", b"cap", 0o755);
                    one(c, z, i)
                },
                expect: Expect::Rejected(&["root/opt/cap", "extended attributes"]),
            },
            quick,
        ),
    ]
}

#[test]
fn hostile_resource_bounds() {
    let ctx = Ctx::new("hostile_bounds");
    let cases = bounds_cases();
    let timed: Vec<(&Case, Option<Duration>)> = cases.iter().map(|(c, d)| (c, Some(*d))).collect();
    run_timed(&ctx, &timed);
}

// --- Signals, memory and descriptors of a running install -------------------

/// Starts `install` of `image` for `zone` (whose zonepath dataset exists)
/// with `setup` applied to the command.
fn spawn_install(
    ctx: &Ctx,
    zone: &str,
    image: &Path,
    setup: impl FnOnce(&mut Command),
) -> std::process::Child {
    let zonepath = ctx.f.mountpoint.join("zones").join(zone);
    let mut cmd = ctx.f.command();
    cmd.arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(&zonepath)
        .arg("install")
        .arg(image)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    setup(&mut cmd);
    cmd.spawn().unwrap()
}

/// Checks that a refused or interrupted install left nothing: no zone (the
/// zonepath dataset is not a clone: the empty one zoneadm made is back, if
/// there was one), nothing under the zonepath.
fn assert_left_nothing(ctx: &Ctx, zone: &str) {
    assert!(!ctx.f.installed(zone), "{zone}: no zone is left");
    let zonepath = ctx.f.mountpoint.join("zones").join(zone);
    let left = names(&zonepath);
    assert!(
        left.is_subset(&BTreeSet::from([OsString::from("root")])),
        "{zone}: {left:?}"
    );
    assert!(
        names(&zonepath.join("root")).is_empty(),
        "{zone}: files left"
    );
}

/// Warms the template up (the first install builds it).
fn warm(ctx: &Ctx) {
    let warm = ctx.image("warm", 0, &{
        let mut i = Img::layer();
        i.file("root/opt/warm", b"warm\n", 0o644);
        i.gz()
    });
    let out = ctx.f.hook(
        "warm",
        &ctx.f.zonepath("warm"),
        &["install", warm.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An image streamed to a gzip file.
type Stream = tar::Builder<flate2::write::GzEncoder<std::fs::File>>;

/// Appends an entry of `size` bytes of `byte` (for `oxide.json`, the layer
/// metadata padded with spaces).
fn stream_entry(i: &mut Stream, ty: EntryType, name: &str, size: u64, byte: u8) {
    let mut h = header(
        ty,
        size,
        if ty == EntryType::Directory {
            0o755
        } else {
            0o644
        },
    );
    h.set_path(name).unwrap();
    h.set_cksum();
    if name == "oxide.json" {
        i.append(&h, LAYER.as_bytes()).unwrap();
    } else {
        i.append(&h, std::io::Read::take(std::io::repeat(byte), size))
            .unwrap();
    }
}

/// SIGTERM in the middle of one entry — writing a 256 MiB file, inflating a
/// 256 MiB entry outside root/, and resolving 30 000 entries
/// through links — ends the install within 2 s with exit 254, rolled back,
/// nothing outside the zone changed.
#[test]
fn hostile_signals_inside_an_entry() {
    let ctx = Ctx::new("hostile_signals");
    warm(&ctx);
    /// Zone, the path whose appearance means the entry is under way, the
    /// entries after `oxide.json` (streamed to a gzip file: gigabytes).
    type SignalCase = (&'static str, &'static str, fn(&mut Stream));
    let cases: [SignalCase; 3] = [
        ("sig-write", "opt/big", |i| {
            stream_entry(i, EntryType::Regular, "root/opt/big", 256 << 20, b'z');
        }),
        ("sig-inflate", "opt/first", |i| {
            stream_entry(i, EntryType::Regular, "root/opt/first", 5, b'f');
            stream_entry(i, EntryType::Regular, "README", 256 << 20, 0);
        }),
        ("sig-resolve", "opt/d/f0", |i| {
            stream_entry(i, EntryType::Directory, "root/opt/d", 0, 0);
            let mut l = header(EntryType::GNULongLink, 482, 0o644);
            l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            l.set_cksum();
            let target = format!("{}d\0", "d/..//".repeat(80));
            for n in 0..40 {
                i.append(&l, target.as_bytes()).unwrap();
                let mut h = header(EntryType::Symlink, 0, 0o777);
                h.set_path(format!("root/opt/l{n}")).unwrap();
                h.set_cksum();
                i.append(&h, &b""[..]).unwrap();
            }
            for n in 0..100_000 {
                stream_entry(
                    i,
                    EntryType::Regular,
                    &format!("root/opt/l{}/f{n}", n % 40),
                    0,
                    0,
                );
            }
        }),
    ];
    let mut failures = Vec::new();
    for (zone, marker, build) in cases {
        eprintln!("==> {zone}");
        let image = ctx.f.dir.join(format!("{zone}-0.tar.gz"));
        let file = std::fs::File::create(&image).unwrap();
        let mut i = tar::Builder::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::fast(),
        ));
        stream_entry(
            &mut i,
            EntryType::Regular,
            "oxide.json",
            LAYER.len() as u64,
            b' ',
        );
        build(&mut i);
        i.into_inner().unwrap().finish().unwrap();
        ctx.f.zonepath(zone);
        let before = ctx.outside();
        let mut child = spawn_install(&ctx, zone, &image, |_| {});
        let root = ctx.f.mountpoint.join("zones").join(zone).join("root");
        let started = Instant::now();
        while std::fs::symlink_metadata(root.join(marker)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "{zone}: ended early");
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "{zone}: no {marker}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let sent = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let stopped = sent.elapsed();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("{stderr}{zone}: stopped {stopped:?} after SIGTERM");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_eq!(status.code(), Some(254), "{zone}: {stderr}");
            assert!(stderr.contains("SIGTERM"), "{zone}: {stderr}");
            // The unpack stops within a second; the rollback (zfs destroy
            // under emulation) takes the rest.
            assert!(stopped < Duration::from_secs(10), "{zone}: {stopped:?}");
            assert_left_nothing(&ctx, zone);
            assert_eq!(ctx.outside(), before, "{zone}: outside changed");
        }));
        if let Err(e) = r {
            failures.push(format!("{zone}: {:?}", e.downcast_ref::<String>()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The peak resident set of a running installer, read until it ends
/// (`VmHWM` only grows; read only once the process is the installer: between
/// fork and exec it shows this test's own); and its exit status and stderr.
fn watch_peak(mut child: std::process::Child) -> (u64, std::process::Output) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            let installer = s.lines().any(|l| l == "Name:\tomicron1");
            if let Some(kib) = s
                .lines()
                .filter(|_| installer)
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (peak, child.wait_with_output().unwrap())
}

/// Installs of 1 000 directories and of 30 000 flat, 15 000 in two levels,
/// 8 000 with 200-byte names: the install's peak memory differs by less than
/// 2 MiB (the old extractor kept each path twice: 4 MB for the 8 000).
#[test]
fn hostile_memory_does_not_grow_with_directories() {
    let ctx = Ctx::new("hostile_memory");
    warm(&ctx);
    let mut failures = Vec::new();
    for (shape, many) in [("flat", 30_000), ("levels", 15_000), ("long", 8_000)] {
        let mut peaks = Vec::new();
        for count in [1_000, many] {
            let zone = format!("mem-{shape}-{count}");
            let mut i = Img::layer();
            for n in 0..count {
                let name = match shape {
                    "flat" => format!("root/opt/d{n}"),
                    "levels" => format!("root/opt/t{}/d{n}", n / 500),
                    _ => format!("root/opt/{}{n:06}", "n".repeat(200)),
                };
                i.dir(&name, 0o755);
            }
            let image = gzip_with_command(&ctx, &zone, i);
            ctx.f.zonepath(&zone);
            let child = spawn_install(&ctx, &zone, &image, |_| {});
            let (peak, out) = watch_peak(child);
            eprintln!("{zone}: peak {peak} KiB");
            assert!(peak > 0, "{zone}: the installer's peak was read");
            assert_eq!(
                out.status.code(),
                Some(0),
                "{zone}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            peaks.push(peak);
        }
        if peaks[1] > peaks[0] + 2 * 1024 {
            failures.push(format!("{shape}: {peaks:?} KiB"));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// Under `ulimit -n 64`, installs 1 000 directories deep (as implied parents,
/// as listed directories, through a link) succeed; too deep is refused with
/// 254 and rolled back.
#[test]
fn hostile_descriptors_do_not_grow_with_depth() {
    use std::os::unix::process::CommandExt;
    let ctx = Ctx::new("hostile_fds");
    warm(&ctx);
    let d = deep(1000);
    let cases: Vec<(&str, Img, Option<i32>)> = vec![
        (
            "fds-implied",
            {
                let mut i = Img::layer();
                i.file(&format!("root/{d}file"), b"deep\n", 0o644);
                i
            },
            Some(0),
        ),
        (
            "fds-listed",
            {
                let mut i = Img::layer();
                let mut p = String::from("root/");
                for n in 0..1000 {
                    p.push_str(&format!("{}/", n % 10));
                    i.dir(&p, 0o755);
                }
                i.file(&format!("{p}file"), b"deep\n", 0o644);
                i
            },
            Some(0),
        ),
        (
            "fds-link",
            {
                let mut i = Img::layer();
                i.file(&format!("root/{d}file"), b"deep\n", 0o644);
                i.symlink("root/opt/l", &format!("/{d}"));
                i.file("root/opt/l/other", b"other\n", 0o644);
                i
            },
            Some(0),
        ),
        (
            "fds-too-deep",
            {
                let mut i = Img::layer();
                i.file(&format!("root/{}file", deep(1030)), b"deep\n", 0o644);
                i
            },
            Some(254),
        ),
    ];
    let mut failures = Vec::new();
    for (zone, img, want) in cases {
        let image = ctx.image(zone, 0, &img.gz());
        ctx.f.zonepath(zone);
        let before = ctx.outside();
        let child = spawn_install(&ctx, zone, &image, |cmd| {
            // SAFETY: setrlimit is async-signal-safe.
            unsafe {
                cmd.pre_exec(|| {
                    let lim = nix::libc::rlimit {
                        rlim_cur: 64,
                        rlim_max: 64,
                    };
                    if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        });
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!("{zone}: {stderr}");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_eq!(out.status.code(), want, "{zone}: {stderr}");
            if want == Some(254) {
                assert!(stderr.contains("directories deep"), "{zone}: {stderr}");
                assert_left_nothing(&ctx, zone);
            } else {
                let root = ctx.f.mountpoint.join("zones").join(zone).join("root");
                let comps: Vec<Vec<u8>> = d
                    .split('/')
                    .filter(|c| !c.is_empty())
                    .map(|c| c.as_bytes().to_vec())
                    .chain([b"file".to_vec()])
                    .collect();
                assert_eq!(read_deep(&root, &comps), b"deep\n");
            }
            assert_eq!(ctx.outside(), before, "{zone}: outside changed");
        }));
        if let Err(e) = r {
            failures.push(format!("{zone}: {:?}", e.downcast_ref::<String>()));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn hostile_names_and_links() {
    let ctx = Ctx::new("hostile_links");
    run(&ctx, &links_cases());
}

#[test]
fn hostile_types_metadata_and_streams() {
    let ctx = Ctx::new("hostile_input");
    run(&ctx, &input_cases());
}

/// The corpus as a whole: enough cases, of both outcomes.
#[test]
fn the_corpus_is_large_and_mixed() {
    let all: Vec<Case> = links_cases()
        .into_iter()
        .chain(input_cases())
        .chain(bounds_cases().into_iter().map(|(c, _)| c))
        .collect();
    let rejected = all
        .iter()
        .filter(|c| matches!(c.expect, Expect::Rejected(_)))
        .count();
    assert!(all.len() >= 30, "{} cases", all.len());
    assert!(
        rejected >= 15 && all.len() - rejected >= 10,
        "{rejected} of {} rejected",
        all.len()
    );
    let names: BTreeSet<_> = all.iter().map(|c| c.name).collect();
    assert_eq!(names.len(), all.len(), "case names are unique");
}
