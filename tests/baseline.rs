//! Baseline archives and the global-zone-only list, on real files. These run
//! as root, so owners can be checked.

use std::collections::HashMap;
use std::fs::{self, File, FileTimes};
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use omicron1::rootfs::baseline::{self, Baseline, BaselineError};
use omicron1::rootfs::baseline_archive;
use sha2::{Digest, Sha256};

const OLD_SECS: u64 = 1_000_000_000;

/// Writes `path` (making its parents) with `contents` and `mode`.
fn write(path: &Path, contents: &[u8], mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn set_old_mtime(path: &Path) {
    let t = UNIX_EPOCH + Duration::from_secs(OLD_SECS);
    File::open(path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(t))
        .unwrap();
}

/// One archive entry, as read back.
#[derive(Debug)]
struct Entry {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<PathBuf>,
    data: Vec<u8>,
}

/// Reads a gzip tar: entry names in order, and each entry.
fn read_archive(path: &Path) -> (Vec<String>, HashMap<String, Entry>) {
    let gz = flate2::read::GzDecoder::new(File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut names = Vec::new();
    let mut entries = HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches('/')
            .to_string();
        let header = entry.header();
        let mut e = Entry {
            kind: header.entry_type(),
            mode: header.mode().unwrap(),
            uid: header.uid().unwrap(),
            gid: header.gid().unwrap(),
            mtime: header.mtime().unwrap(),
            link: entry.link_name().unwrap().map(|l| l.into_owned()),
            data: Vec::new(),
        };
        entry.read_to_end(&mut e.data).unwrap();
        assert!(
            entries.insert(name.clone(), e).is_none(),
            "{name} is in the archive twice"
        );
        names.push(name);
    }
    (names, entries)
}

/// A small root tree, and an include list for it.
fn root_fixture() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(&r.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n", 0o644);
    std::os::unix::fs::chown(r.join("etc/passwd"), Some(0), Some(3)).unwrap();
    set_old_mtime(&r.join("etc/passwd"));
    write(&r.join("etc/shadow"), b"root:NP:::::::\n", 0o400);
    write(&r.join("etc/motd"), b"not listed\n", 0o644);
    write(&r.join("etc/ssh/sshd_config"), b"Port 22\n", 0o644);
    symlink("sshd_config", r.join("etc/ssh/link")).unwrap();
    write(&r.join("var/svc/profile/site.xml"), b"<profile/>", 0o644);
    fs::set_permissions(r.join("etc"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(r.join("etc"), Some(1234), Some(5678)).unwrap();
    set_old_mtime(&r.join("etc"));
    root
}

#[test]
fn create_writes_metadata_first_then_listed_files_under_root() {
    let root = root_fixture();
    let r = root.path();
    let work = tempfile::tempdir().unwrap();
    let include = work.path().join("include");
    fs::write(
        &include,
        "# the baseline\n\n./etc/passwd\netc/shadow\netc/ssh\nvar/svc/\netc/passwd\n",
    )
    .unwrap();
    let out = work.path().join("out");
    let stats = baseline_archive::create(r, &include, None, &out).unwrap();

    let (names, entries) = read_archive(&out.join(baseline::FILES));
    assert_eq!(names[0], "oxide.json");
    let meta: serde_json::Value = serde_json::from_slice(&entries["oxide.json"].data).unwrap();
    assert_eq!(meta, serde_json::json!({"v": "1", "t": "baseline"}));

    let mut expected = vec![
        "oxide.json",
        "root/etc",
        "root/etc/passwd",
        "root/etc/shadow",
        "root/etc/ssh",
        "root/etc/ssh/link",
        "root/etc/ssh/sshd_config",
        "root/var",
        "root/var/svc",
        "root/var/svc/profile",
        "root/var/svc/profile/site.xml",
    ];
    let mut got: Vec<&str> = names.iter().map(String::as_str).collect();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(
        got, expected,
        "etc/motd is not listed and must not be there"
    );
    // Parents come before what is in them.
    let at = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(at("root/etc") < at("root/etc/passwd"));
    assert!(at("root/var/svc") < at("root/var/svc/profile/site.xml"));

    let passwd = &entries["root/etc/passwd"];
    assert_eq!(passwd.kind, tar::EntryType::Regular);
    assert_eq!(passwd.data, b"root:x:0:0::/root:/bin/sh\n");
    assert_eq!(
        (passwd.mode & 0o7777, passwd.uid, passwd.gid, passwd.mtime),
        (0o644, 0, 3, OLD_SECS)
    );
    assert_eq!(entries["root/etc/shadow"].mode & 0o7777, 0o400);
    let etc = &entries["root/etc"];
    assert_eq!(etc.kind, tar::EntryType::Directory);
    assert_eq!(
        (etc.mode & 0o7777, etc.uid, etc.gid, etc.mtime),
        (0o750, 1234, 5678, OLD_SECS)
    );
    let link = &entries["root/etc/ssh/link"];
    assert_eq!(link.kind, tar::EntryType::Symlink);
    assert_eq!(link.link.as_deref(), Some(Path::new("sshd_config")));

    assert_eq!(stats.entries, 10);
    let bytes = [
        "etc/passwd",
        "etc/shadow",
        "etc/ssh/sshd_config",
        "var/svc/profile/site.xml",
    ]
    .iter()
    .map(|p| fs::metadata(r.join(p)).unwrap().len())
    .sum::<u64>();
    assert_eq!(stats.bytes, bytes);

    // An empty gzonly.txt, and no temporary files left behind.
    assert_eq!(fs::read(out.join(baseline::GZONLY)).unwrap(), b"");
    let mut left: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, vec![baseline::FILES, baseline::GZONLY]);
}

#[test]
fn create_keeps_long_names_and_does_not_follow_symlinked_directories() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let long = format!("opt/{}/{}", "d".repeat(80), "f".repeat(90));
    write(&r.join(&long), b"long", 0o644);
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("secret"), b"secret", 0o644);
    symlink(outside.path(), r.join("opt/out")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let include = work.path().join("include");
    fs::write(&include, "opt\n").unwrap();
    baseline_archive::create(r, &include, None, work.path()).unwrap();
    let (_, entries) = read_archive(&work.path().join(baseline::FILES));
    assert_eq!(entries[&format!("root/{long}")].data, b"long");
    assert_eq!(entries["root/opt/out"].kind, tar::EntryType::Symlink);
    assert!(!entries.keys().any(|k| k.contains("secret")));
}

#[test]
fn create_copies_a_validated_gzonly_list() {
    let root = root_fixture();
    let work = tempfile::tempdir().unwrap();
    let include = work.path().join("include");
    fs::write(&include, "etc/passwd\n").unwrap();
    let gzonly = work.path().join("gz");
    let text = "# global zone only\netc/zones/index\n./etc/dladm/datalink.conf\n";
    fs::write(&gzonly, text).unwrap();
    let out = work.path().join("out");
    baseline_archive::create(root.path(), &include, Some(&gzonly), &out).unwrap();
    assert_eq!(
        fs::read_to_string(out.join(baseline::GZONLY)).unwrap(),
        text
    );
    assert_eq!(
        baseline::read_gzonly(&out.join(baseline::GZONLY)).unwrap(),
        vec![
            PathBuf::from("etc/zones/index"),
            PathBuf::from("etc/dladm/datalink.conf")
        ]
    );
}

#[test]
fn a_failed_create_leaves_the_previous_baseline_alone() {
    let root = root_fixture();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join(baseline::FILES), "previous").unwrap();
    let include = work.path().join("include");

    // A listed path that does not exist: named, with the list and the line.
    fs::write(&include, "etc/passwd\n\netc/nosuchfile\n").unwrap();
    let err = baseline_archive::create(root.path(), &include, None, &out).unwrap_err();
    assert!(
        matches!(err, BaselineError::Missing { line: 3, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&root.path().join("etc/nosuchfile").display().to_string()),
        "{text}"
    );

    // A bad gzonly list.
    fs::write(&include, "etc/passwd\n").unwrap();
    let gzonly = work.path().join("gz");
    fs::write(&gzonly, "etc/ok\n/etc/zones/index\n").unwrap();
    let err = baseline_archive::create(root.path(), &include, Some(&gzonly), &out).unwrap_err();
    assert!(
        matches!(err, BaselineError::BadLine { line: 2, .. }),
        "{err}"
    );

    // A path through a symlink.
    symlink("etc", root.path().join("etclink")).unwrap();
    fs::write(&include, "etclink/passwd\n").unwrap();
    let err = baseline_archive::create(root.path(), &include, None, &out).unwrap_err();
    assert!(
        matches!(err, BaselineError::NotThroughDirectories { line: 1, .. }),
        "{err}"
    );

    // A gzonly list that was named but does not exist.
    let err =
        baseline_archive::create(root.path(), &include, Some(&work.path().join("nope")), &out)
            .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");

    assert_eq!(fs::read(out.join(baseline::FILES)).unwrap(), b"previous");
    let left: Vec<_> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![baseline::FILES],
        "no temporary files left behind"
    );
}

#[test]
fn create_rejects_absolute_and_dotdot_include_lines() {
    let root = root_fixture();
    let work = tempfile::tempdir().unwrap();
    let include = work.path().join("include");
    for (text, line) in [
        ("etc/passwd\n/etc/shadow\n", 2),
        ("# x\n\netc/../../x\n", 3),
    ] {
        fs::write(&include, text).unwrap();
        let err = baseline_archive::create(root.path(), &include, None, work.path()).unwrap_err();
        assert!(
            matches!(err, BaselineError::BadLine { line: l, .. } if l == line),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&include.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
    }
    assert!(!work.path().join(baseline::FILES).exists());
}

#[test]
fn read_gzonly_skips_comments_and_rejects_paths_leaving_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join(baseline::GZONLY);
    fs::write(
        &list,
        "# comment\n\n  \netc/zones/index\r\n./etc/svc/repository.db\nvar/log/\n",
    )
    .unwrap();
    assert_eq!(
        baseline::read_gzonly(&list).unwrap(),
        vec![
            PathBuf::from("etc/zones/index"),
            PathBuf::from("etc/svc/repository.db"),
            PathBuf::from("var/log"),
        ]
    );
    for (text, line) in [
        ("etc/a\n/etc/zones/index\n", 2),
        ("etc/a\n#\n\nx/../../etc\n", 4),
        ("..\n", 1),
    ] {
        fs::write(&list, text).unwrap();
        let err = baseline::read_gzonly(&list).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, BaselineError::BadLine { line: l, .. } if l == line),
            "{msg}"
        );
        assert!(msg.contains(&list.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("line {line}")), "{msg}");
    }
    // An absent list is an empty one.
    assert!(baseline::read_gzonly(&dir.path().join("absent"))
        .unwrap()
        .is_empty());
}

#[test]
fn remove_gzonly_removes_files_and_directories_and_never_follows_symlinks() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let outside = tempfile::tempdir().unwrap();
    write(&outside.path().join("sentinel"), b"keep", 0o644);
    write(&r.join("etc/zones/index"), b"global:installed:/", 0o644);
    write(&r.join("etc/dladm/datalink.conf"), b"links", 0o644);
    write(&r.join("etc/dladm/secobj.conf"), b"secrets", 0o600);
    write(&r.join("etc/keep"), b"keep", 0o644);
    // A symlinked parent: removing through it would touch the host.
    symlink(outside.path(), r.join("lnk")).unwrap();
    // A symlink listed itself: the link goes, its target stays.
    symlink(outside.path().join("sentinel"), r.join("etc/sentinel-link")).unwrap();

    let paths: Vec<PathBuf> = [
        "etc/zones/index",
        "etc/dladm",
        "etc/not/there",
        "lnk/sentinel",
        "etc/sentinel-link",
        "etc/keep/under-a-file",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(baseline::remove_gzonly(r, &paths).unwrap(), 3);
    assert!(!r.join("etc/zones/index").exists());
    assert!(r.join("etc/zones").is_dir());
    assert!(fs::symlink_metadata(r.join("etc/dladm")).is_err());
    assert!(fs::symlink_metadata(r.join("etc/sentinel-link")).is_err());
    assert_eq!(fs::read(outside.path().join("sentinel")).unwrap(), b"keep");
    assert!(r.join("etc/keep").is_file());
    // Again: nothing left to remove.
    assert_eq!(baseline::remove_gzonly(r, &paths).unwrap(), 0);
    // A path leaving the root is refused outright.
    let err = baseline::remove_gzonly(r, &[PathBuf::from("../x")]).unwrap_err();
    assert!(matches!(err, BaselineError::BadPath { .. }), "{err}");
}

#[test]
fn find_picks_the_first_folder_holding_the_archive() {
    let top = tempfile::tempdir().unwrap();
    let [missing, gz_only, first, second] =
        ["missing", "gzonly-only", "first", "second"].map(|d| top.path().join(d));
    write(&gz_only.join(baseline::GZONLY), b"etc/x\n", 0o644);
    write(&first.join(baseline::FILES), b"1", 0o644);
    write(&second.join(baseline::FILES), b"2", 0o644);
    write(&second.join(baseline::GZONLY), b"", 0o644);
    let dirs = vec![
        missing.clone(),
        gz_only.clone(),
        first.clone(),
        second.clone(),
    ];
    let found = baseline::find(&dirs).unwrap();
    assert_eq!(
        found,
        Baseline {
            files: first.join(baseline::FILES),
            gzonly: first.join(baseline::GZONLY)
        }
    );
    // Its gzonly.txt is absent: an empty list.
    assert!(baseline::read_gzonly(&found.gzonly).unwrap().is_empty());

    let err = baseline::find(&dirs[..2]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BaselineError::NotFound { .. }));
    assert!(text.contains(&missing.display().to_string()), "{text}");
    assert!(text.contains(&gz_only.display().to_string()), "{text}");
}

#[test]
fn digest_covers_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let b = Baseline {
        files: dir.path().join(baseline::FILES),
        gzonly: dir.path().join(baseline::GZONLY),
    };
    fs::write(&b.files, "archive").unwrap();
    let absent = baseline::digest(&b).unwrap();
    let expected: String = Sha256::digest(b"archive")
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(absent, expected, "an absent gzonly.txt adds nothing");

    fs::write(&b.gzonly, "etc/zones/index\n").unwrap();
    let with_list = baseline::digest(&b).unwrap();
    let expected: String = Sha256::digest(b"archiveetc/zones/index\n")
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(with_list, expected);
    assert_eq!(with_list.len(), 64);
    assert_eq!(
        baseline::digest(&b).unwrap(),
        with_list,
        "the same files, the same digest"
    );

    fs::write(&b.gzonly, "etc/zones/index\netc/x\n").unwrap();
    assert_ne!(
        baseline::digest(&b).unwrap(),
        with_list,
        "gzonly.txt changed"
    );
    fs::write(&b.gzonly, "etc/zones/index\n").unwrap();
    fs::write(&b.files, "archive2").unwrap();
    assert_ne!(
        baseline::digest(&b).unwrap(),
        with_list,
        "files.tar.gz changed"
    );

    fs::remove_file(&b.files).unwrap();
    let err = baseline::digest(&b).unwrap_err();
    assert!(err.to_string().contains(baseline::FILES), "{err}");
}
