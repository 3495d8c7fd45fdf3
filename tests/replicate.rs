//! Replication of system trees into a template, on real files. These run as
//! root (as the installer does), so owners and setuid bits can be checked.

use std::fs::{self, File, FileTimes};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use nix::sys::stat::{utimensat, Mode as FileMode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use omicron1::rootfs::replicate::{self, Mode, ReplicateError};

/// An mtime with nanoseconds, to check they are kept.
const OLD_SECS: u64 = 1_000_000_000;
const OLD_NANOS: u32 = 123_456_789;

fn old_time() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::new(OLD_SECS, OLD_NANOS)
}

/// Writes `path` (making its parents) with `contents` and `mode`.
fn write(path: &Path, contents: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Sets the access and modification times of a file or directory.
fn set_old_times(path: &Path) {
    let times = FileTimes::new()
        .set_accessed(old_time())
        .set_modified(old_time());
    File::open(path).unwrap().set_times(times).unwrap();
}

/// A source root with `usr`, `lib` and `sbin` trees like a small illumos.
fn fixture() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    write(&s.join("usr/bin/ls"), b"ls program", 0o755);
    write(&s.join("usr/bin/passwd"), b"setuid program", 0o4555);
    write(&s.join("usr/lib/foo.so"), b"shared object", 0o644);
    write(&s.join("usr/lib/foo.sort"), b"not a shared object", 0o644);
    write(&s.join("usr/share/man/man1/ls.1"), b"manual page", 0o644);
    write(
        &s.join("usr/share/locale/de/LC_MESSAGES/ls.mo"),
        b"catalogue",
        0o644,
    );
    write(&s.join("usr/share/lib/conf"), b"configuration", 0o640);
    std::os::unix::fs::chown(s.join("usr/share/lib/conf"), Some(1234), Some(5678)).unwrap();
    set_old_times(&s.join("usr/share/lib/conf"));
    write(&s.join("lib/libc.so.1"), b"libc", 0o644);
    write(&s.join("sbin/init"), b"init", 0o555);
    src
}

fn replicate(src: &Path, tree: &str, dest: &Path, mode: Mode) -> replicate::TreeStats {
    replicate::replicate_tree(src, tree, dest, mode, 4).unwrap()
}

#[test]
fn split_makes_programs_and_shared_objects_relative_links_into_system() {
    let src = fixture();
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let usr = replicate(src.path(), "usr", d, Mode::Split);
    let lib = replicate(src.path(), "lib", d, Mode::Split);
    let cases = [
        ("usr/bin/ls", "../../system/usr/bin/ls"),
        ("usr/bin/passwd", "../../system/usr/bin/passwd"),
        ("usr/lib/foo.so", "../../system/usr/lib/foo.so"),
        (
            "usr/share/man/man1/ls.1",
            "../../../../system/usr/share/man/man1/ls.1",
        ),
        (
            "usr/share/locale/de/LC_MESSAGES/ls.mo",
            "../../../../../system/usr/share/locale/de/LC_MESSAGES/ls.mo",
        ),
        ("lib/libc.so.1", "../system/lib/libc.so.1"),
    ];
    for (path, target) in cases {
        let p = d.join(path);
        assert!(
            fs::symlink_metadata(&p).unwrap().file_type().is_symlink(),
            "{path} is not a link"
        );
        assert_eq!(fs::read_link(&p).unwrap(), Path::new(target), "{path}");
    }
    // Resolved from the zone root, each names the same path under /system.
    for (path, target) in cases {
        let parent = Path::new(path).parent().unwrap();
        let resolved = normalize(&Path::new("/").join(parent).join(target));
        assert_eq!(resolved, Path::new("/system").join(path), "{path}");
    }
    assert_eq!(usr.links, 5);
    assert_eq!(lib.links, 1);
    // Not a shared object: ".so" must be a whole dot-separated part.
    let sort = fs::symlink_metadata(d.join("usr/lib/foo.sort")).unwrap();
    assert!(sort.is_file());
    assert_eq!(usr.files, 2, "foo.sort and conf are copied");
}

/// Resolves `.` and `..` lexically (the links point at nothing on the host).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn split_copies_other_files_with_mode_owner_and_mtime() {
    let src = fixture();
    let dest = tempfile::tempdir().unwrap();
    let stats = replicate(src.path(), "usr", dest.path(), Mode::Split);
    let md = fs::symlink_metadata(dest.path().join("usr/share/lib/conf")).unwrap();
    assert!(md.is_file());
    assert_eq!(
        fs::read(dest.path().join("usr/share/lib/conf")).unwrap(),
        b"configuration"
    );
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    assert_eq!(md.mtime() as u64, OLD_SECS);
    assert_eq!(md.mtime_nsec() as u32, OLD_NANOS);
    assert_eq!(
        stats.bytes,
        b"configuration".len() as u64 + b"not a shared object".len() as u64
    );
}

#[test]
fn copy_all_copies_every_regular_file_keeping_setuid() {
    let src = fixture();
    let s = src.path();
    std::os::unix::fs::chown(s.join("usr/bin/passwd"), Some(0), Some(3)).unwrap();
    // Setting the owner may clear setuid: set it again, and check the copy keeps it.
    fs::set_permissions(s.join("usr/bin/passwd"), fs::Permissions::from_mode(0o4555)).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let usr = replicate(s, "usr", d, Mode::CopyAll);
    let lib = replicate(s, "lib", d, Mode::CopyAll);
    assert_eq!((usr.links, lib.links), (0, 0));
    assert_eq!((usr.files, lib.files), (7, 1));
    for path in [
        "usr/bin/ls",
        "usr/bin/passwd",
        "usr/lib/foo.so",
        "usr/share/man/man1/ls.1",
        "usr/share/lib/conf",
        "lib/libc.so.1",
    ] {
        let md = fs::symlink_metadata(d.join(path)).unwrap();
        assert!(md.is_file(), "{path} is not a regular file");
        assert_eq!(
            fs::read(d.join(path)).unwrap(),
            fs::read(s.join(path)).unwrap(),
            "{path}"
        );
        let src_md = fs::metadata(s.join(path)).unwrap();
        assert_eq!(md.mode(), src_md.mode(), "{path}");
    }
    let passwd = fs::metadata(d.join("usr/bin/passwd")).unwrap();
    assert_eq!(passwd.mode() & 0o7777, 0o4555);
    assert_eq!((passwd.uid(), passwd.gid()), (0, 3));
}

#[test]
fn directories_keep_mode_owner_and_mtime_after_their_contents() {
    let src = fixture();
    let s = src.path();
    let dir = s.join("usr/share/lib");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(&dir, Some(1234), Some(5678)).unwrap();
    set_old_times(&dir);
    // A read-only directory whose contents must still be written.
    let ro = s.join("usr/readonly");
    write(&ro.join("file"), b"x", 0o644);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    set_old_times(&ro);
    let dest = tempfile::tempdir().unwrap();
    let stats = replicate(s, "usr", dest.path(), Mode::Split);
    let md = fs::symlink_metadata(dest.path().join("usr/share/lib")).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o7777, 0o750);
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    assert_eq!(
        (md.mtime() as u64, md.mtime_nsec() as u32),
        (OLD_SECS, OLD_NANOS)
    );
    let md = fs::symlink_metadata(dest.path().join("usr/readonly")).unwrap();
    assert_eq!(md.mode() & 0o7777, 0o555);
    assert_eq!(
        (md.mtime() as u64, md.mtime_nsec() as u32),
        (OLD_SECS, OLD_NANOS)
    );
    assert_eq!(
        fs::read(dest.path().join("usr/readonly/file")).unwrap(),
        b"x"
    );
    // usr, bin, lib, share, man, man1, locale, de, LC_MESSAGES, share/lib, readonly
    assert_eq!(stats.dirs, 11);
}

#[test]
fn symlinks_are_recreated_verbatim_and_never_followed() {
    let src = fixture();
    let s = src.path();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("secret"), b"outside", 0o644);
    symlink("/usr/bin/ls", s.join("usr/bin/abs")).unwrap();
    symlink("../lib/foo.so", s.join("usr/bin/rel")).unwrap();
    symlink("no/such/target", s.join("usr/bin/dangling")).unwrap();
    symlink(outside.path(), s.join("usr/dirlink")).unwrap();
    let link = s.join("usr/bin/owned");
    symlink("ls", &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(1234), Some(5678)).unwrap();
    let t = TimeSpec::new(OLD_SECS as _, OLD_NANOS as _);
    utimensat(None, &link, &t, &t, UtimensatFlags::NoFollowSymlink).unwrap();

    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let stats = replicate(s, "usr", d, Mode::Split);
    assert_eq!(stats.symlinks, 5);
    for (path, target) in [
        ("usr/bin/abs", "/usr/bin/ls".into()),
        ("usr/bin/rel", "../lib/foo.so".into()),
        ("usr/bin/dangling", "no/such/target".into()),
        ("usr/dirlink", outside.path().to_path_buf()),
        ("usr/bin/owned", "ls".into()),
    ] {
        let md = fs::symlink_metadata(d.join(path)).unwrap();
        assert!(md.file_type().is_symlink(), "{path}");
        assert_eq!(fs::read_link(d.join(path)).unwrap(), target, "{path}");
    }
    let md = fs::symlink_metadata(d.join("usr/bin/owned")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    assert_eq!(
        (md.mtime() as u64, md.mtime_nsec() as u32),
        (OLD_SECS, OLD_NANOS)
    );
    // The directory behind the link was not walked.
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
}

#[test]
fn fifos_and_sockets_are_skipped_and_counted() {
    let src = fixture();
    let s = src.path();
    nix::unistd::mkfifo(&s.join("usr/lib/pipe"), FileMode::from_bits_truncate(0o644)).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(s.join("usr/lib/sock")).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let stats = replicate(s, "usr", dest.path(), Mode::Split);
    assert_eq!(stats.skipped, 2);
    assert!(fs::symlink_metadata(dest.path().join("usr/lib/pipe")).is_err());
    assert!(fs::symlink_metadata(dest.path().join("usr/lib/sock")).is_err());
    // The rest of the directory is still there.
    assert!(fs::symlink_metadata(dest.path().join("usr/lib/foo.sort"))
        .unwrap()
        .is_file());
}

#[test]
fn parallel_copy_of_many_files_gives_identical_contents() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    let mut total = 0u64;
    let mut paths = Vec::new();
    for i in 0..200u32 {
        let path = format!("usr/share/data/d{}/f{i}", i % 7);
        // Sizes from 0 to ~300 KiB, contents that differ per file and position.
        let len = (i as usize * 1543) % 300_000;
        let contents: Vec<u8> = (0..len).map(|j| (j as u32 * 31 + i * 7) as u8).collect();
        write(&s.join(&path), &contents, 0o644);
        total += len as u64;
        paths.push(path);
    }
    let dest = tempfile::tempdir().unwrap();
    let stats = replicate::replicate_tree(s, "usr", dest.path(), Mode::Split, 8).unwrap();
    assert_eq!(stats.files, 200);
    assert_eq!(stats.bytes, total);
    for path in &paths {
        let copied = fs::read(dest.path().join(path)).unwrap();
        assert!(copied == fs::read(s.join(path)).unwrap(), "{path} differs");
    }
}

#[test]
fn prune_removes_a_tree_and_reports_absence() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    write(&d.join("lib/svc/manifest/system/a.xml"), b"a", 0o644);
    write(&d.join("lib/svc/manifest/b.xml"), b"b", 0o644);
    write(&d.join("lib/svc/method/m"), b"m", 0o755);
    assert!(replicate::prune(d, Path::new("lib/svc/manifest")).unwrap());
    assert!(fs::symlink_metadata(d.join("lib/svc/manifest")).is_err());
    assert!(d.join("lib/svc/method/m").is_file());
    assert!(!replicate::prune(d, Path::new("lib/svc/manifest")).unwrap());
    assert!(!replicate::prune(d, Path::new("no/such/dir")).unwrap());
}

#[test]
fn prune_does_not_follow_symlinks() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("manifest/sentinel"), b"keep", 0o644);
    // A symlink at the path: the link goes, not what it points at.
    fs::create_dir_all(d.join("lib/svc")).unwrap();
    symlink(outside.path().join("manifest"), d.join("lib/svc/manifest")).unwrap();
    assert!(replicate::prune(d, Path::new("lib/svc/manifest")).unwrap());
    assert!(fs::symlink_metadata(d.join("lib/svc/manifest")).is_err());
    assert!(outside.path().join("manifest/sentinel").is_file());
    // A symlink on the way: nothing is removed.
    symlink(outside.path(), d.join("var")).unwrap();
    assert!(!replicate::prune(d, Path::new("var/manifest")).unwrap());
    assert!(outside.path().join("manifest/sentinel").is_file());
}

#[test]
fn prune_rejects_paths_that_leave_the_root() {
    let dest = tempfile::tempdir().unwrap();
    for bad in ["/lib/svc", "../x", "lib/../../x", ""] {
        let err = replicate::prune(dest.path(), Path::new(bad)).unwrap_err();
        assert!(
            matches!(err, ReplicateError::BadPrunePath { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn merges_into_an_existing_destination() {
    let src = fixture();
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("sentinel"), b"keep", 0o644);
    write(&d.join("usr/keep"), b"not in the source", 0o644);
    write(&d.join("usr/bin/ls"), b"old ls", 0o755);
    // A symlink where a copied file goes must be replaced, not written through.
    fs::create_dir_all(d.join("usr/share/lib")).unwrap();
    symlink(
        outside.path().join("sentinel"),
        d.join("usr/share/lib/conf"),
    )
    .unwrap();
    // A directory where a link goes is replaced.
    write(&d.join("usr/lib/foo.so/inner"), b"x", 0o644);
    // A file where a directory goes is replaced.
    write(&d.join("usr/share/man"), b"file in the way", 0o644);

    replicate(src.path(), "usr", d, Mode::Split);
    assert_eq!(fs::read(d.join("usr/keep")).unwrap(), b"not in the source");
    assert_eq!(
        fs::read_link(d.join("usr/bin/ls")).unwrap(),
        Path::new("../../system/usr/bin/ls")
    );
    let conf = fs::symlink_metadata(d.join("usr/share/lib/conf")).unwrap();
    assert!(conf.is_file());
    assert_eq!(
        fs::read(d.join("usr/share/lib/conf")).unwrap(),
        b"configuration"
    );
    assert_eq!(fs::read(outside.path().join("sentinel")).unwrap(), b"keep");
    assert!(fs::symlink_metadata(d.join("usr/lib/foo.so"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(d.join("usr/share/man"))
        .unwrap()
        .is_dir());

    // Replicating again over the result changes nothing.
    replicate(src.path(), "usr", d, Mode::Split);
    assert_eq!(
        fs::read(d.join("usr/share/lib/conf")).unwrap(),
        b"configuration"
    );
    // And switching to CopyAll replaces the links with copies.
    replicate(src.path(), "usr", d, Mode::CopyAll);
    assert!(fs::symlink_metadata(d.join("usr/bin/ls"))
        .unwrap()
        .is_file());
    assert_eq!(fs::read(d.join("usr/bin/ls")).unwrap(), b"ls program");
}

#[test]
fn a_missing_source_tree_is_an_error_naming_it() {
    let src = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let err =
        replicate::replicate_tree(src.path(), "sbin", dest.path(), Mode::Split, 2).unwrap_err();
    assert!(matches!(err, ReplicateError::MissingSource { .. }));
    assert!(
        err.to_string()
            .contains(&src.path().join("sbin").display().to_string()),
        "{err}"
    );
}

#[test]
fn errors_name_the_source_and_the_destination() {
    let src = fixture();
    let dest = tempfile::tempdir().unwrap();
    let missing = dest.path().join("no/such/root");
    let err = replicate::replicate_tree(src.path(), "usr", &missing, Mode::Split, 2).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&missing.join("usr").display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&src.path().join("usr").display().to_string()),
        "{text}"
    );
}

#[test]
fn tree_names_must_be_one_component() {
    let src = fixture();
    let dest = tempfile::tempdir().unwrap();
    for bad in ["usr/bin", "..", "/usr", ""] {
        let err =
            replicate::replicate_tree(src.path(), bad, dest.path(), Mode::Split, 1).unwrap_err();
        assert!(
            matches!(err, ReplicateError::BadTree { .. }),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn a_tree_that_is_a_symlink_is_recreated() {
    let src = fixture();
    let s = src.path();
    fs::remove_dir_all(s.join("sbin")).unwrap();
    symlink("usr/sbin", s.join("sbin")).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let stats = replicate(s, "sbin", dest.path(), Mode::Split);
    assert_eq!(stats.symlinks, 1);
    assert_eq!(
        fs::read_link(dest.path().join("sbin")).unwrap(),
        Path::new("usr/sbin")
    );
}

#[test]
fn default_threads_are_bounded() {
    let n = replicate::default_threads();
    assert!((2..=16).contains(&n), "{n}");
}
