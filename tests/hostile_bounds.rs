//! Hostile images against the extractor's resource bounds (README, "Threat
//! model"): sparse files, signals, symbolic link resolution, memory,
//! descriptors and header arithmetic, at least three cases each. Every case
//! checks its bound — time, bytes written, peak memory or descriptors — and
//! that nothing outside the zone root changed.
//!
//! Memory, descriptors and signals are measured in a child process (this test
//! binary run again for one test, with `HOSTILE_CHILD` set): its peak RSS
//! (`VmHWM`), its `RLIMIT_NOFILE`, its signal flag are its own.
//!
//! The tests run as root, as the installer does.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use omicron1::image::confined::{MAX_DEPTH, MAX_LINK_BYTES};
use omicron1::image::{self, EntryError, ImageError, ImageKind, Limits};
use tar::{EntryType, Header};

const LAYER: &[u8] = br#"{"v":"1","t":"layer"}"#;
const MTIME: u64 = 1_500_000_000;

// ---------------------------------------------------------------------------
// Archives

/// A tar written to `W` (memory, or a gzip file for large ones).
struct Img<W: Write> {
    b: tar::Builder<W>,
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

impl Img<Vec<u8>> {
    fn layer() -> Self {
        let mut i = Img {
            b: tar::Builder::new(Vec::new()),
        };
        i.file("oxide.json", LAYER);
        i
    }

    fn gz(self) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(&self.b.into_inner().unwrap()).unwrap();
        e.finish().unwrap()
    }
}

impl<W: Write> Img<W> {
    /// An entry with the name written raw (GNU long name when over 100 bytes).
    fn entry(&mut self, ty: EntryType, name: &[u8], link: &[u8], data: &[u8]) -> &mut Self {
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
        let mode = if ty == EntryType::Directory {
            0o755
        } else {
            0o644
        };
        let mut h = header(ty, data.len() as u64, mode);
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        let n = link.len().min(100);
        h.as_old_mut().linkname[..n].copy_from_slice(&link[..n]);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(EntryType::Regular, name.as_bytes(), b"", data)
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(EntryType::Directory, name.as_bytes(), b"", b"")
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Symlink, name.as_bytes(), target.as_bytes(), b"")
    }

    /// A file of `size` bytes of `byte`, streamed.
    fn big(&mut self, name: &str, size: u64, byte: u8) -> &mut Self {
        let mut h = header(EntryType::Regular, size, 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.b
            .append(&h, std::io::Read::take(std::io::repeat(byte), size))
            .unwrap();
        self
    }

    /// A GNU sparse file of `real` bytes whose data blocks are `blocks`
    /// (offset, length; the data is `x`; a hole at the end is a last block of
    /// no data at the file's size, as GNU tar writes it), with as many extension blocks as
    /// needed; `stored` overrides the header's size (the data written is
    /// always the blocks' lengths together).
    fn sparse(
        &mut self,
        name: &str,
        real: u64,
        blocks: &[(u64, u64)],
        stored: Option<u64>,
    ) -> &mut Self {
        let data: u64 = blocks.iter().map(|b| b.1).sum();
        let mut h = header(EntryType::GNUSparse, stored.unwrap_or(data), 0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        let (first, rest) = blocks.split_at(blocks.len().min(4));
        let gnu = h.as_gnu_mut().unwrap();
        for (slot, (off, len)) in gnu.sparse.iter_mut().zip(first) {
            slot.set_offset(*off);
            slot.set_length(*len);
        }
        gnu.set_real_size(real);
        gnu.set_is_extended(!rest.is_empty());
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        let chunks: Vec<_> = rest.chunks(21).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let mut ext = tar::GnuExtSparseHeader::new();
            for (slot, (off, len)) in ext.sparse.iter_mut().zip(chunk.iter()) {
                slot.set_offset(*off);
                slot.set_length(*len);
            }
            ext.set_is_extended(i + 1 < chunks.len());
            raw.extend_from_slice(ext.as_bytes());
        }
        raw.extend(std::iter::repeat_n(b'x', data as usize));
        raw.resize(raw.len().div_ceil(512) * 512, 0);
        self.b.get_mut().write_all(&raw).unwrap();
        self
    }
}

// ---------------------------------------------------------------------------
// The zone root and what is around it

/// A temporary folder: `zone/` (the zone root), `sentinel/` next to it,
/// `images/`.
struct Fixture {
    tmp: tempfile::TempDir,
    zone: PathBuf,
    before: BTreeMap<PathBuf, String>,
    count: usize,
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p.clone());
            }
            out.insert(
                p.strip_prefix(dir).unwrap().to_owned(),
                format!("{:o} {} {} {}", m.mode(), m.size(), m.mtime(), m.ino()),
            );
        }
    }
    out
}

impl Fixture {
    fn new() -> Self {
        Self::new_in(&std::env::temp_dir())
    }

    /// A fixture in memory (tmpfs) when the system has one: for the tests
    /// that make hundreds of thousands of entries, whose time on a busy disk
    /// is the disk's, not the extractor's.
    fn in_memory() -> Self {
        let shm = Path::new("/dev/shm");
        Self::new_in(if shm.is_dir() { shm } else { Path::new("/tmp") })
    }

    fn new_in(parent: &Path) -> Self {
        let tmp = tempfile::tempdir_in(parent).unwrap();
        let zone = tmp.path().join("zone");
        fs::create_dir_all(&zone).unwrap();
        fs::create_dir_all(tmp.path().join("sentinel/etc")).unwrap();
        fs::write(tmp.path().join("sentinel/keep"), b"keep").unwrap();
        fs::create_dir(tmp.path().join("images")).unwrap();
        let before = Self::outside(tmp.path());
        Fixture {
            tmp,
            zone,
            before,
            count: 0,
        }
    }

    fn outside(top: &Path) -> BTreeMap<PathBuf, String> {
        let mut t = tree(top);
        t.retain(|p, _| !p.starts_with("zone/") && !p.starts_with("images/"));
        t.remove(Path::new("zone"));
        t.remove(Path::new("images"));
        t
    }

    fn image_path(&mut self) -> PathBuf {
        self.count += 1;
        self.tmp
            .path()
            .join("images")
            .join(format!("{}.tar.gz", self.count))
    }

    fn write(&mut self, bytes: &[u8]) -> PathBuf {
        let p = self.image_path();
        fs::write(&p, bytes).unwrap();
        p
    }

    fn unpack_limited(
        &mut self,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<image::Unpacked, ImageError> {
        let p = self.write(bytes);
        image::unpack_with(&p, &self.zone, ImageKind::Layer, limits)
    }

    fn unpack(&mut self, bytes: &[u8]) -> Result<image::Unpacked, ImageError> {
        self.unpack_limited(bytes, Limits::default())
    }

    fn z(&self, rel: &str) -> PathBuf {
        self.zone.join(rel)
    }

    /// Bytes the zone root's files take on disk.
    fn disk_use(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            let m = fs::symlink_metadata(p).unwrap();
            let mut n = m.blocks() * 512;
            if m.is_dir() {
                for e in fs::read_dir(p).unwrap() {
                    n += walk(&e.unwrap().path());
                }
            }
            n
        }
        walk(&self.zone)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(
                Self::outside(self.tmp.path()),
                self.before,
                "something outside the zone root changed"
            );
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// CPU time (user and system) this process has used so far, where the
/// platform's `getrusage` is reachable through nix (Linux, where these tests
/// run; the illumos type-check builds them too).
#[cfg(target_os = "linux")]
fn cpu_used() -> Option<Duration> {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let tv =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, (t.tv_usec() as u32) * 1000);
    Some(tv(usage.user_time()) + tv(usage.system_time()))
}

/// Elsewhere only the wall clock is used.
#[cfg(not(target_os = "linux"))]
fn cpu_used() -> Option<Duration> {
    None
}

/// Runs `f`, asserting it took less than `limit` of wall-clock time.
fn timed_wall<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < limit, "{what} took {took:?}, more than {limit:?}");
    out
}

/// Runs `f`, asserting it took less than `limit`: in wall-clock time, or, on
/// a machine so loaded that the wall clock says little, in this process's
/// CPU time. Work that really runs away (spinning, writing zeros) exceeds
/// both; a busy machine only stretches the first, and other tests running
/// beside this one only add to the second.
fn timed<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let cpu_start = cpu_used();
    let out = f();
    let took = start.elapsed();
    let cpu = cpu_start
        .zip(cpu_used())
        .map(|(before, after)| after.saturating_sub(before));
    assert!(
        took < limit || cpu.is_some_and(|cpu| cpu < limit),
        "{what} took {took:?} ({cpu:?} of CPU), more than {limit:?}"
    );
    out
}

fn entry_problem(e: &ImageError) -> (&str, &EntryError) {
    match e {
        ImageError::Entry { entry, problem, .. } => (entry, problem),
        other => panic!("not an entry error: {}", chain(other)),
    }
}

// ---------------------------------------------------------------------------
// Child processes

/// Whether this process is the child run for `test`, and its job if so.
fn child_job(test: &str) -> Option<String> {
    std::env::var("HOSTILE_CHILD")
        .ok()
        .and_then(|v| v.strip_prefix(&format!("{test}:")).map(str::to_owned))
}

/// Runs this test binary again for `test` alone with job `job`; returns the
/// lines it printed that start with `RESULT `.
fn run_child(test: &str, job: &str) -> Vec<String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("HOSTILE_CHILD", format!("{test}:{job}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {test} {job}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r.to_owned()))
        .collect();
    assert!(
        !results.is_empty(),
        "child {test} {job} said nothing: {stdout}"
    );
    results
}

/// This process's peak resident set since it was started, in KiB (`VmHWM`:
/// unlike `getrusage`'s `ru_maxrss`, not inherited from the parent's peak).
fn max_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Sets this process's descriptor limit (soft and hard).
fn limit_descriptors(n: u64) {
    let lim = nix::libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: setrlimit reads the struct it is given.
    assert_eq!(
        unsafe { nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &lim) },
        0
    );
}

/// The highest descriptor open in this process.
fn highest_fd() -> u64 {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap()
}

// ---------------------------------------------------------------------------
// Sparse files

/// A sparse file with a 1 GiB hole and a final hole: written as holes, in
/// well under a second, with its data where the map says.
#[test]
fn sparse_holes_are_holes() {
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.sparse(
        "root/opt/holey",
        3 << 30,
        &[(0, 512), (1 << 30, 1024), (2 << 30, 512), (3 << 30, 0)],
        None,
    );
    let u = timed("a 3 GiB sparse file", Duration::from_secs(2), || {
        f.unpack(&i.gz()).unwrap()
    });
    assert_eq!(u.bytes, 2048, "only the data is written");
    let p = f.z("opt/holey");
    let m = fs::metadata(&p).unwrap();
    assert_eq!(m.len(), 3 << 30);
    assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
    use std::os::unix::fs::FileExt;
    let file = fs::File::open(&p).unwrap();
    let mut buf = [0u8; 4];
    for (at, want) in [
        (0, *b"xxxx"),
        (508, *b"xxxx"),
        (512, [0; 4]),
        ((1 << 30) - 4, [0; 4]),
        (1 << 30, *b"xxxx"),
        ((2 << 30) + 508, *b"xxxx"),
        ((3 << 30) - 4, [0; 4]),
    ] {
        file.read_exact_at(&mut buf, at).unwrap();
        assert_eq!(buf, want, "at {at}");
    }
    assert!(f.disk_use() < 2 << 20);
}

/// The finding: a sparse entry declaring an enormous size spun for ever. Now
/// a size past the bound is refused at once, naming the entry, and one under
/// it (an exabyte is not) is a hole; `image inspect` refuses it as quickly.
#[test]
fn sparse_huge_sizes_are_refused_at_once() {
    for real in [1u64 << 62, (1 << 40) + 7] {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        i.sparse("root/opt/huge", real, &[(real - 512, 512)], None);
        i.file("root/opt/after", b"after");
        let gz = i.gz();
        let err = timed("a huge sparse file", Duration::from_secs(1), || {
            f.unpack(&gz).unwrap_err()
        });
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry, "root/opt/huge");
        assert!(
            matches!(problem, EntryError::SparseTooLarge { size, .. } if *size == real),
            "{}",
            chain(&err)
        );
        assert!(chain(&err).contains("OMICRON1_IMAGE_MAX_BYTES"));
        assert!(!f.z("opt/huge").exists() && !f.z("opt/after").exists());
        let p = f.write(&gz);
        timed("inspect", Duration::from_secs(1), || {
            assert!(image::inspect(&p).is_err())
        });
    }
    // With the bound raised, 1 TiB of hole takes no time and no space.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.sparse("root/opt/tib", 1 << 40, &[((1 << 40) - 512, 512)], None);
    timed("1 TiB of hole", Duration::from_secs(1), || {
        f.unpack_limited(&i.gz(), Limits { max_bytes: 2 << 40 })
            .unwrap()
    });
    assert_eq!(fs::metadata(f.z("opt/tib")).unwrap().len(), 1 << 40);
    assert!(f.disk_use() < 1 << 20);
}

/// Maps that disagree with their sizes, overlap or run past 2^64 are refused
/// as corrupt, naming the entry, before anything is written.
#[test]
fn sparse_maps_are_checked_against_the_sizes() {
    /// Name, real size, blocks, stored size.
    type Case = (&'static str, u64, Vec<(u64, u64)>, Option<u64>);
    let cases: Vec<Case> = vec![
        ("real-size-short", 1000, vec![(0, 512), (2048, 512)], None),
        (
            "stored-size-mismatch",
            4096,
            vec![(0, 512), (4096, 0)],
            Some(1024),
        ),
        ("overlapping", 8192, vec![(0, 1024), (512, 512)], None),
        ("past-2-64", u64::MAX, vec![(u64::MAX - 100, 512)], None),
        (
            "many-blocks-wrong-end",
            1 << 20,
            (0..100).map(|n| (n * 4096, 512)).collect(),
            None,
        ),
    ];
    for (name, real, blocks, stored) in cases {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        let entry = format!("root/opt/{name}");
        i.sparse(&entry, real, &blocks, stored);
        let err = timed(name, Duration::from_secs(1), || {
            f.unpack(&i.gz()).unwrap_err()
        });
        let text = chain(&err);
        assert!(
            matches!(&err, ImageError::Corrupt { near: Some(e), .. } if *e == entry)
                || matches!(&err, ImageError::Entry { entry: e, .. } if *e == entry),
            "{name}: {text}"
        );
        assert!(!f.z(&entry["root/".len()..]).exists(), "{name}");
    }
    // Many blocks (extension headers), consistent: right.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    let mut blocks: Vec<(u64, u64)> = (0..100).map(|n| (n * (1 << 20), 512)).collect();
    blocks.push((100 << 20, 0));
    i.sparse("root/opt/many", 100 << 20, &blocks, None);
    f.unpack(&i.gz()).unwrap();
    assert_eq!(fs::metadata(f.z("opt/many")).unwrap().len(), 100 << 20);
    assert!(f.disk_use() < 4 << 20);
}

// ---------------------------------------------------------------------------
// The bound on bytes written

/// An image is charged 512 bytes per entry plus its data: a bomb of zeros, a
/// bomb of entries and a bomb in an ignored entry all stop at the bound,
/// before the entry that would pass it is written.
#[test]
fn the_byte_bound_stops_bombs() {
    let limits = Limits { max_bytes: 8 << 20 };
    // Zeros: 64 MiB in one file.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.file("root/opt/small", b"small")
        .big("root/opt/zeros", 64 << 20, 0);
    let err = timed("zeros", Duration::from_secs(2), || {
        f.unpack_limited(&i.gz(), limits).unwrap_err()
    });
    assert!(
        matches!(err, ImageError::TooLarge { limit, .. } if limit == 8 << 20),
        "{}",
        chain(&err)
    );
    assert!(chain(&err).contains("OMICRON1_IMAGE_MAX_BYTES"));
    assert!(f.z("opt/small").exists() && !f.z("opt/zeros").exists());
    assert!(f.disk_use() < 1 << 20);

    // Entries: 20 000 empty files charge 10 MB.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    for n in 0..20_000 {
        i.file(&format!("root/f{n}"), b"");
    }
    let err = f.unpack_limited(&i.gz(), limits).unwrap_err();
    assert!(
        matches!(err, ImageError::TooLarge { .. }),
        "{}",
        chain(&err)
    );
    let made = fs::read_dir(&f.zone).unwrap().count() as u64;
    assert!(made * 512 <= 8 << 20, "{made} files");

    // Outside root/: read, not written, but charged all the same.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.big("README", 64 << 20, 0);
    let err = timed("ignored zeros", Duration::from_secs(2), || {
        f.unpack_limited(&i.gz(), limits).unwrap_err()
    });
    assert!(
        matches!(err, ImageError::TooLarge { .. }),
        "{}",
        chain(&err)
    );

    // Under the bound, the same image installs.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.big("root/opt/zeros", 4 << 20, 0);
    f.unpack_limited(&i.gz(), limits).unwrap();
}

/// Zeros after the end-of-archive marker are read only up to 1 MiB.
#[test]
fn padding_after_the_end_marker_is_bounded() {
    let mut f = Fixture::new();
    let mut tar = Img::layer().b.into_inner().unwrap();
    tar.resize(tar.len() + (64 << 20), 0);
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(&tar).unwrap();
    let gz = e.finish().unwrap();
    let err = timed("padding", Duration::from_secs(2), || {
        f.unpack(&gz).unwrap_err()
    });
    assert!(
        chain(&err).contains("more than 1048576 bytes of padding"),
        "{}",
        chain(&err)
    );
}

// ---------------------------------------------------------------------------
// Signals

/// What a signal child does: unpack the image at `$HOSTILE_IMAGE` into
/// `$HOSTILE_ZONE`, raising SIGTERM after 200 ms, and report how it ended and
/// how long after the signal.
fn signal_child(job: &str) {
    omicron1::support::signals::install_handlers();
    let image_path = PathBuf::from(std::env::var("HOSTILE_IMAGE").unwrap());
    let zone = PathBuf::from(std::env::var("HOSTILE_ZONE").unwrap());
    let sent = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s = sent.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        *s.lock().unwrap() = Some(Instant::now());
        nix::sys::signal::kill(nix::unistd::getpid(), nix::sys::signal::Signal::SIGTERM).unwrap();
    });
    let limits = Limits { max_bytes: 1 << 40 };
    let result = if job == "inspect" {
        image::inspect(&image_path).map(|_| ())
    } else {
        image::unpack_with(&image_path, &zone, ImageKind::Layer, limits).map(|_| ())
    };
    let after = sent
        .lock()
        .unwrap()
        .map(|t| t.elapsed().as_millis())
        .unwrap_or(u128::MAX);
    let how = match &result {
        Err(ImageError::Interrupted { .. }) => "interrupted".to_string(),
        Err(e) => format!("error {}", chain(e)),
        Ok(()) => "finished".to_string(),
    };
    println!("RESULT {how}");
    println!("RESULT {after}");
}

/// SIGTERM while a large file is written, while a large ignored entry is
/// inflated, while thousands of entries resolve through links, and while
/// `image inspect` reads: the pass stops within a second of it, reporting
/// the signal, having written far less than the image holds.
#[test]
fn a_signal_stops_the_pass_inside_an_entry() {
    const TEST: &str = "a_signal_stops_the_pass_inside_an_entry";
    if let Some(job) = child_job(TEST) {
        return signal_child(&job);
    }
    let build = |job: &str, path: &Path| {
        let file = fs::File::create(path).unwrap();
        let mut i = Img {
            b: tar::Builder::new(GzEncoder::new(file, Compression::fast())),
        };
        i.file("oxide.json", LAYER);
        match job {
            "write" | "inspect" => {
                i.big("root/opt/big", 1 << 30, b'z');
            }
            "inflate" => {
                i.big("README", 1 << 30, 0);
            }
            "resolve" => {
                i.dir("root/d");
                for n in 0..40 {
                    let target = format!("{}d", "d/..//".repeat(80));
                    i.symlink(&format!("root/l{n}"), &target);
                }
                for n in 0..100_000 {
                    i.file(&format!("root/l{}/f{n}", n % 40), b"");
                }
            }
            _ => unreachable!(),
        }
        i.b.into_inner().unwrap().finish().unwrap();
    };
    for job in ["write", "inflate", "resolve", "inspect"] {
        let f = Fixture::in_memory();
        let image_path = f.tmp.path().join("images/signal.tar.gz");
        build(job, &image_path);
        let out = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env("HOSTILE_CHILD", format!("{TEST}:{job}"))
            .env("HOSTILE_IMAGE", &image_path)
            .env("HOSTILE_ZONE", &f.zone)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let results: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
            .collect();
        assert_eq!(results.first(), Some(&"interrupted"), "{job}: {stdout}");
        let after: u128 = results[1].parse().unwrap();
        assert!(after < 1000, "{job}: stopped {after} ms after the signal");
        assert!(f.disk_use() < 1 << 30, "{job}: wrote {}", f.disk_use());
    }
}

// ---------------------------------------------------------------------------
// Symbolic link resolution

/// The finding: links with long `d/../` targets made every entry through
/// them walk thousands of components. Each resolution now walks at most
/// 4096 bytes of targets: such entries are refused at once.
#[test]
fn link_target_bytes_are_budgeted() {
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.dir("root/d");
    // 40 links whose targets are 2 KB each: one is fine, three are too many.
    let long = format!("{}d", "d/../".repeat(400));
    assert!(long.len() < MAX_LINK_BYTES && 3 * long.len() > MAX_LINK_BYTES);
    i.symlink("root/a0", &long);
    for n in 1..40 {
        i.symlink(&format!("root/a{n}"), &format!("a{}/{long}", n - 1));
    }
    i.file("root/a0/ok", b"ok");
    for n in 0..10_000 {
        i.file(&format!("root/a39/f{n}"), b"");
    }
    let err = timed("entries through long links", Duration::from_secs(2), || {
        f.unpack(&i.gz()).unwrap_err()
    });
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/a39/f0");
    assert!(matches!(problem, EntryError::LinkBudget), "{}", chain(&err));
    assert_eq!(fs::read(f.z("d/ok")).unwrap(), b"ok");
}

/// More than 40 links on one path: refused, quickly, as the kernel would.
#[test]
fn link_hops_are_budgeted() {
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.dir("root/d");
    i.symlink("root/h0", "d");
    for n in 1..=41 {
        i.symlink(&format!("root/h{n}"), &format!("h{}", n - 1));
    }
    i.file("root/h39/ok", b"ok");
    for n in 0..10_000 {
        i.file(&format!("root/h41/f{n}"), b"");
    }
    let err = timed("a chain of 41 links", Duration::from_secs(2), || {
        f.unpack(&i.gz()).unwrap_err()
    });
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/h41/f0");
    assert!(
        matches!(problem, EntryError::TooManySymlinks),
        "{}",
        chain(&err)
    );
    assert_eq!(fs::read(f.z("d/ok")).unwrap(), b"ok");
}

/// Many entries resolving through links within the budget: the time per
/// entry stays small (2 000 entries, each through up to 40 links of 95
/// bytes: at most 5 ms each, unoptimised).
#[test]
fn resolution_within_the_budget_stays_fast() {
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.dir("root/d");
    let pad = format!("{}d", "./".repeat(45));
    i.symlink("root/b0", &pad);
    for n in 1..40 {
        i.symlink(&format!("root/b{n}"), &format!("b{}/../{pad}", n - 1));
    }
    for n in 0..2_000 {
        i.file(&format!("root/b{}/f{n}", n % 40), b"");
    }
    timed(
        "2 000 entries through links",
        Duration::from_secs(10),
        || f.unpack(&i.gz()).unwrap(),
    );
    assert_eq!(fs::read_dir(f.z("d")).unwrap().count(), 2_000);
}

// ---------------------------------------------------------------------------
// Memory

/// A child's job: unpack `$HOSTILE_IMAGE` into `$HOSTILE_ZONE` and report
/// peak RSS in KiB.
fn memory_child() {
    let image_path = PathBuf::from(std::env::var("HOSTILE_IMAGE").unwrap());
    let zone = PathBuf::from(std::env::var("HOSTILE_ZONE").unwrap());
    let u = image::unpack_with(&image_path, &zone, ImageKind::Layer, Limits::default()).unwrap();
    println!("RESULT {}", max_rss_kib());
    println!("RESULT {}", u.entries);
}

/// The finding: every directory's path was kept twice (a 2.7 MB image took
/// 1.39 GB). Peak memory no longer grows with the number of directories:
/// 2 000, then 200 000 directories flat (50 000 in two levels, 20 000 with
/// 200-byte names), each in a child process, peak RSS at most 4 MiB apart
/// (a record of just 21 bytes per directory would pass it).
#[test]
fn memory_does_not_grow_with_directories() {
    const TEST: &str = "memory_does_not_grow_with_directories";
    if child_job(TEST).is_some() {
        return memory_child();
    }
    let run = |shape: &str, count: usize| -> u64 {
        let f = Fixture::in_memory();
        let image_path = f.tmp.path().join("images/dirs.tar.gz");
        let file = fs::File::create(&image_path).unwrap();
        let mut i = Img {
            b: tar::Builder::new(GzEncoder::new(file, Compression::fast())),
        };
        i.file("oxide.json", LAYER);
        for n in 0..count {
            match shape {
                "flat" => i.dir(&format!("root/d{n}")),
                "two-levels" => i.dir(&format!("root/t{}/d{n}", n / 1000)),
                _ => i.dir(&format!("root/{}{n:07}", "n".repeat(200))),
            };
        }
        i.b.into_inner().unwrap().finish().unwrap();
        let out = Command::new(std::env::current_exe().unwrap())
            .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
            .env("HOSTILE_CHILD", format!("{TEST}:{shape}"))
            .env("HOSTILE_IMAGE", &image_path)
            .env("HOSTILE_ZONE", &f.zone)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{shape}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let results: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
            .collect();
        assert_eq!(results[1], count.to_string(), "{shape}: entries");
        let kib: u64 = results[0].parse().unwrap();
        eprintln!("{shape} x {count}: peak RSS {kib} KiB");
        kib
    };
    for (shape, many) in [("flat", 200_000), ("two-levels", 50_000), ("long", 20_000)] {
        let few = run(shape, 2_000);
        let lots = run(shape, many);
        assert!(
            lots < few + 4 * 1024,
            "{shape}: {few} KiB for 2 000 directories, {lots} KiB for {many}"
        );
    }
}

// ---------------------------------------------------------------------------
// Descriptors and depth

/// What a descriptor child does: under a descriptor limit of the highest
/// descriptor open plus 8 (and never more than 64), unpack an image of the
/// shape `job`, and report the outcome.
fn descriptor_child(job: &str) {
    let extra = 8;
    let limit = (highest_fd() + 1 + extra).min(64);
    limit_descriptors(limit);
    let f = Fixture::new();
    let deep: String = (0..1000).map(|n| format!("{}/", n % 10)).collect();
    let mut i = Img::layer();
    match job {
        "file-deep" => {
            i.file(&format!("root/{deep}file"), b"deep");
        }
        "dirs-deep" => {
            let mut p = String::from("root/");
            for n in 0..1000 {
                p.push_str(&format!("{}/", n % 10));
                i.dir(&p);
            }
            i.file(&format!("{p}file"), b"deep");
        }
        "links-deep" => {
            i.file(&format!("root/{deep}file"), b"deep");
            i.symlink("root/l", &format!("/{deep}"));
            i.file("root/l/other", b"other");
        }
        _ => unreachable!(),
    }
    let gz = i.gz();
    let p = f.tmp.path().join("images/deep.tar.gz");
    fs::write(&p, gz).unwrap();
    let result = image::unpack(&p, &f.zone, ImageKind::Layer);
    match result {
        Ok(_) => {
            let mut at = f.zone.clone();
            at.push(&deep);
            assert_eq!(fs::read(at.join("file")).unwrap(), b"deep");
            println!("RESULT ok under {limit}");
        }
        Err(e) => println!("RESULT error {}", chain(&e)),
    }
}

/// The finding: a file 300 directories deep failed with "Too many open
/// files" under `ulimit -n 256`. Extraction holds a handful of descriptors
/// whatever the depth: 1 000 directories deep, as a file's implied parents,
/// as listed directories and through a link, under a limit of 8 more than
/// the process had open (64 at most).
#[test]
fn descriptors_do_not_grow_with_depth() {
    const TEST: &str = "descriptors_do_not_grow_with_depth";
    if let Some(job) = child_job(TEST) {
        return descriptor_child(&job);
    }
    for job in ["file-deep", "dirs-deep", "links-deep"] {
        let results = run_child(TEST, job);
        assert!(results[0].starts_with("ok under "), "{job}: {}", results[0]);
        let limit: u64 = results[0]["ok under ".len()..].parse().unwrap();
        assert!(limit <= 64);
    }
}

/// Past the depth limit, refused, naming the entry: a name, a link's
/// target and a hard link's target too deep.
#[test]
fn depth_past_the_limit_is_refused() {
    let too_deep: String = (0..=MAX_DEPTH).map(|_| "a/").collect();
    let fits: String = (0..MAX_DEPTH - 1).map(|_| "a/").collect();

    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.file(&format!("root/{too_deep}file"), b"x");
    let err = f.unpack(&i.gz()).unwrap_err();
    let (entry, problem) = entry_problem(&err);
    assert!(entry.ends_with("a/a/file"));
    assert!(matches!(problem, EntryError::TooDeep), "{}", chain(&err));
    assert!(!f.z("a").exists(), "refused before anything is made");

    // A link leading to a path that is deep enough, then one more level.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.file(&format!("root/{fits}file"), b"x");
    i.symlink("root/l", &format!("/{fits}"));
    i.file("root/l/ok", b"ok");
    i.file("root/l/b/c/d", b"too deep");
    let err = f.unpack(&i.gz()).unwrap_err();
    let (entry, problem) = entry_problem(&err);
    assert_eq!(entry, "root/l/b/c/d");
    assert!(matches!(problem, EntryError::TooDeep), "{}", chain(&err));
    let mut ok = f.zone.clone();
    ok.push(&fits);
    assert_eq!(fs::read(ok.join("ok")).unwrap(), b"ok");

    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.entry(
        EntryType::Link,
        b"root/h",
        format!("root/{too_deep}file").as_bytes(),
        b"",
    );
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(
        matches!(entry_problem(&err).1, EntryError::TooDeep),
        "{}",
        chain(&err)
    );
}

// ---------------------------------------------------------------------------
// Header arithmetic and doubtful headers

/// The finding: an extreme negative PAX mtime was accepted in release builds
/// (the file got a year-2446 time) and panicked in debug ones. Times outside
/// 1970..9999 are refused, from PAX records and base-256 header fields alike.
#[test]
fn extreme_times_are_refused_not_wrapped() {
    let pax_cases: &[&[u8]] = &[
        b"-9223372036854775808.5",
        b"-9223372036854775808",
        b"9223372036854775807",
        b"-1",
        b"-0.5",
        b"253402300800",
        b"99999999999999999999999",
    ];
    for value in pax_cases {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        i.b.append_pax_extensions([("mtime", *value)]).unwrap();
        i.file("root/t", b"t");
        let err = f.unpack(&i.gz()).unwrap_err();
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry, "root/t");
        assert!(
            matches!(
                problem,
                EntryError::MtimeOutOfRange(_) | EntryError::Header { .. }
            ),
            "{}: {}",
            String::from_utf8_lossy(value),
            chain(&err)
        );
        assert!(!f.z("t").exists());
    }
    // Base-256 in the header: negative (all ones) and past 2^63.
    for raw in [[0xffu8; 12], {
        let mut b = [0u8; 12];
        b[0] = 0x80;
        b[4] = 0x80;
        b
    }] {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        let mut h = header(EntryType::Regular, 1, 0o644);
        h.as_old_mut().name[..6].copy_from_slice(b"root/t");
        h.as_old_mut().mtime.copy_from_slice(&raw);
        h.set_cksum();
        i.b.append(&h, &b"t"[..]).unwrap();
        let err = f.unpack(&i.gz()).unwrap_err();
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry, "root/t");
        assert!(
            matches!(
                problem,
                EntryError::MtimeOutOfRange(_) | EntryError::Header { .. }
            ),
            "{}",
            chain(&err)
        );
    }
    // The edges themselves are fine.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.b.append_pax_extensions([("mtime", &b"0"[..])]).unwrap();
    i.file("root/zero", b"t");
    i.b.append_pax_extensions([("mtime", &b"4102444800.999999999"[..])])
        .unwrap();
    i.file("root/late", b"t");
    f.unpack(&i.gz()).unwrap();
    assert_eq!(fs::metadata(f.z("zero")).unwrap().mtime(), 0);
    // (The largest accepted, year 9999, is more than ext4 stores: 2100 here.)
    assert_eq!(fs::metadata(f.z("late")).unwrap().mtime(), 4_102_444_800);
}

/// Extreme numbers in other header fields and PAX records: refused or
/// bounded, never wrapped (sizes near 2^64, ids past 2^32, a PAX size that
/// lies).
#[test]
fn extreme_numbers_are_refused_not_wrapped() {
    // A PAX size of nearly 2^64: charged, refused at once.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    i.b.append_pax_extensions([("size", &b"18446744073709551000"[..])])
        .unwrap();
    i.file("root/s", b"s");
    let err = timed("a huge PAX size", Duration::from_secs(1), || {
        f.unpack(&i.gz()).unwrap_err()
    });
    assert!(
        matches!(
            err,
            ImageError::TooLarge { .. } | ImageError::Corrupt { .. }
        ),
        "{}",
        chain(&err)
    );
    // Ids past 2^32 and past 2^64.
    for value in [&b"4294967296"[..], b"18446744073709551616", b"-1"] {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        i.b.append_pax_extensions([("uid", value)]).unwrap();
        i.file("root/u", b"u");
        let err = f.unpack(&i.gz()).unwrap_err();
        assert!(!f.z("u").exists(), "{}", chain(&err));
    }
    // A base-256 size of 2^95: refused as corrupt.
    let mut f = Fixture::new();
    let mut i = Img::layer();
    let mut h = header(EntryType::Regular, 0, 0o644);
    h.as_old_mut().name[..6].copy_from_slice(b"root/z");
    let mut size = [0u8; 12];
    size[0] = 0x80;
    size[1] = 0x80;
    h.as_old_mut().size.copy_from_slice(&size);
    h.set_cksum();
    i.b.append(&h, &b""[..]).unwrap();
    let err = f.unpack(&i.gz()).unwrap_err();
    assert!(!f.z("z").exists(), "{}", chain(&err));
}

/// The doubtful cases, decided: extended attributes are refused (not
/// dropped), a regular file named with a trailing '/' is refused, and an
/// image path that is a FIFO or a directory is refused without blocking.
#[test]
fn doubtful_entries_are_refused_clearly() {
    for key in [
        "SCHILY.xattr.user.x",
        "LIBARCHIVE.xattr.security.capability",
        "SCHILY.acl.access",
    ] {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        i.b.append_pax_extensions([(key, &b"v"[..])]).unwrap();
        i.file("root/x", b"x");
        let err = f.unpack(&i.gz()).unwrap_err();
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry, "root/x");
        assert!(
            matches!(problem, EntryError::Xattrs { .. }),
            "{}",
            chain(&err)
        );
        assert!(chain(&err).contains("--no-xattrs"));
    }
    for ty in [EntryType::Regular, EntryType::Symlink, EntryType::Link] {
        let mut f = Fixture::new();
        let mut i = Img::layer();
        i.file("root/target", b"t");
        i.entry(ty, b"root/slash/", b"root/target", b"");
        let err = f.unpack(&i.gz()).unwrap_err();
        let (entry, problem) = entry_problem(&err);
        assert_eq!(entry, "root/slash/");
        assert!(
            matches!(problem, EntryError::TrailingSlash),
            "{ty:?}: {}",
            chain(&err)
        );
        assert!(!f.z("slash").exists());
    }
    let f = Fixture::new();
    let fifo = f.tmp.path().join("images/fifo.tar.gz");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let dir = f.tmp.path().join("images");
    for (p, kind) in [(&fifo, "FIFO"), (&dir, "directory")] {
        // Wall-clock time alone: what this guards against is blocking, which
        // costs no CPU.
        let err = timed_wall("a FIFO as the image", Duration::from_secs(1), || {
            image::unpack(p, &f.zone, ImageKind::Layer).unwrap_err()
        });
        assert!(
            matches!(&err, ImageError::NotAFile { kind: k, .. } if *k == kind),
            "{}",
            chain(&err)
        );
        assert!(chain(&err).contains(&p.display().to_string()));
        assert!(image::inspect(p).is_err());
    }
}

/// Directory times are set as the extraction leaves each directory, also
/// for a path 1 000 deep (in linear time) and through a symbolic link to a
/// directory (where `..` is not the way back).
#[test]
fn directory_times_are_set_when_leaving_deep_paths() {
    let mut f = Fixture::new();
    let mut i = Img::layer();
    let mut p = String::from("root/");
    for n in 0..1000 {
        p.push_str(&format!("{}/", n % 10));
        let mut h = header(EntryType::Directory, 0, 0o755);
        h.set_mtime(1_000_000 + n);
        h.set_path(&p).unwrap_or_else(|_| {
            i.entry(EntryType::Directory, p.as_bytes(), b"", b"");
        });
        if p.len() <= 100 {
            h.set_cksum();
            i.b.append(&h, &b""[..]).unwrap();
        }
    }
    i.dir("root/a/b/");
    i.symlink("root/l", "a/b");
    let mut h = header(EntryType::Directory, 0, 0o755);
    h.set_mtime(777);
    h.set_path("root/l/x/").unwrap();
    h.set_cksum();
    i.b.append(&h, &b""[..]).unwrap();
    h.set_mtime(888);
    h.set_path("root/l/x/y/").unwrap();
    h.set_cksum();
    i.b.append(&h, &b""[..]).unwrap();
    i.file("root/other", b"leave them");
    timed("1 000 listed directories", Duration::from_secs(5), || {
        f.unpack(&i.gz()).unwrap()
    });
    for n in 0..30u64 {
        let rel: String = (0..=n).map(|k| format!("{}/", k % 10)).collect();
        assert_eq!(
            fs::metadata(f.z(&rel)).unwrap().mtime(),
            1_000_000 + n as i64,
            "{rel}"
        );
    }
    assert_eq!(fs::metadata(f.z("a/b/x")).unwrap().mtime(), 777);
    assert_eq!(fs::metadata(f.z("a/b/x/y")).unwrap().mtime(), 888);
}
