//! A template's identity follows the baseline: the digest of `files.tar.gz`
//! and `gzonly.txt` is cached in the run directory (warm installs do not rehash
//! the archive), and the cache must notice every change to either file, or
//! zones would go on cloning the old baseline's template after an upgrade.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use omicron1::rootfs::baseline::{self, Baseline};
use omicron1::rootfs::baseline_archive;
use omicron1::template::{identity, Site};

struct World {
    _dir: tempfile::TempDir,
    top: PathBuf,
    site: Site,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let top = fs::canonicalize(dir.path()).unwrap();
    let site = Site {
        run_dir: top.join("run"),
        boot_id: Some("boot-1".into()),
        baseline_dirs: vec![top.join("baseline")],
    };
    let w = World {
        _dir: dir,
        top,
        site,
    };
    w.make_baseline("first motd\n", "usr/lib/gz-only\n", &w.top.join("baseline"));
    w
}

impl World {
    /// Makes a baseline in `out` as `baseline create` does (new files renamed
    /// over the old ones).
    fn make_baseline(&self, motd: &str, gzonly: &str, out: &Path) {
        let tree = self.top.join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/motd"), motd).unwrap();
        fs::write(self.top.join("include"), "etc\n").unwrap();
        fs::write(self.top.join("gzonly"), gzonly).unwrap();
        baseline_archive::create(
            &tree,
            &self.top.join("include"),
            Some(&self.top.join("gzonly")),
            out,
        )
        .unwrap();
    }

    fn baseline(&self) -> Baseline {
        baseline::find(&self.site.baseline_dirs).unwrap()
    }

    /// The identity's baseline digest, through the cache.
    fn cached(&self) -> String {
        identity::identity(&self.site, &self.baseline())
            .unwrap()
            .baseline_sha256
    }

    /// The digest read afresh.
    fn fresh(&self) -> String {
        baseline::digest(&self.baseline()).unwrap()
    }
}

/// Rewrites `path` in place (same inode) with `content`, then gives it back its
/// old modification time.
fn rewrite_keeping_mtime(path: &Path, content: &[u8]) {
    use std::os::unix::fs::MetadataExt;
    let before = fs::metadata(path).unwrap();
    fs::write(path, content).unwrap();
    let mtime = TimeSpec::new(before.mtime(), before.mtime_nsec());
    let atime = TimeSpec::new(before.atime(), before.atime_nsec());
    utimensat(None, path, &atime, &mtime, UtimensatFlags::FollowSymlink).unwrap();
    let after = fs::metadata(path).unwrap();
    assert_eq!(
        (after.ino(), after.size(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.size(),
            before.mtime(),
            before.mtime_nsec()
        ),
        "same inode, size and modification time"
    );
}

#[test]
fn the_digest_is_cached_and_reused() {
    let w = world();
    let first = w.cached();
    assert_eq!(first, w.fresh());
    let cache = w.site.run_dir.join("baseline-digest");
    let text = fs::read_to_string(&cache).unwrap();
    assert!(text.trim_end().ends_with(&first), "{text}");
    // The cache is what a warm call reads: a planted digest is believed while
    // the files are unchanged...
    let planted = "0".repeat(64);
    let stamp = text.trim_end().rsplit_once(' ').unwrap().0;
    fs::write(&cache, format!("{stamp} {planted}\n")).unwrap();
    assert_eq!(w.cached(), planted, "the cache is used");
    // ...and a cache that is not one is recomputed.
    fs::write(&cache, "garbage").unwrap();
    assert_eq!(w.cached(), first);
}

#[test]
fn a_baseline_replaced_by_a_new_file_gets_a_new_digest() {
    let w = world();
    let first = w.cached();
    w.make_baseline(
        "second motd\n",
        "usr/lib/gz-only\n",
        &w.top.join("baseline"),
    );
    let second = w.cached();
    assert_ne!(second, first);
    assert_eq!(second, w.fresh());
}

#[test]
fn an_archive_rewritten_in_place_with_its_size_and_mtime_gets_a_new_digest() {
    let w = world();
    let first = w.cached();
    let files = w.baseline().files;
    let mut bytes = fs::read(&files).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    rewrite_keeping_mtime(&files, &bytes);
    let second = w.cached();
    assert_ne!(second, first, "the cache noticed the rewrite");
    assert_eq!(second, w.fresh());
}

#[test]
fn a_changed_gzonly_list_gets_a_new_digest() {
    let w = world();
    let first = w.cached();
    let gzonly = w.baseline().gzonly;
    // Same length, other content, same modification time.
    rewrite_keeping_mtime(&gzonly, b"usr/lib/gz-onlY\n");
    let second = w.cached();
    assert_ne!(second, first);
    assert_eq!(second, w.fresh());
    // A list that goes away changes it too.
    fs::remove_file(&gzonly).unwrap();
    let third = w.cached();
    assert_ne!(third, second);
    assert_eq!(third, w.fresh());
}
