//! A small but real world for the installer: a system tree to replicate, a
//! baseline made by `omicron1 baseline create`, image layers made as real gzip
//! tar archives, and a zonepath dataset per zone — all under one test's own
//! dataset and folder, so tests run in parallel without meeting. The test's
//! dataset is an encryption root (as `crypt` is on an Oxide sled), so its
//! templates live in it (`tp/<test>/omicron1-templates`), not at the pool's
//! root, which every test shares.

use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use omicron1_zfs::{CliZfs, CreateOptions, DatasetName, Zfs};

use crate::test_pool;

/// One test's world.
#[derive(Debug)]
pub struct Fixture {
    /// The test's own dataset, `tp/<test>`.
    pub dataset: DatasetName,
    /// Its mountpoint.
    pub mountpoint: PathBuf,
    /// A plain (non-ZFS) folder for sources, baseline, images and state.
    pub dir: PathBuf,
    /// `OMICRON1_SOURCE_ROOT`.
    pub source_root: PathBuf,
    /// `OMICRON1_BASELINE_DIR`.
    pub baseline_dir: PathBuf,
    /// `OMICRON1_ZONES_DIR`.
    pub zones_dir: PathBuf,
    /// `OMICRON1_RUN_DIR`.
    pub run_dir: PathBuf,
    /// `OMICRON1_BOOT_ID`.
    pub boot_id: String,
    /// The real backend, for checking what the installer did.
    pub zfs: CliZfs,
}

/// The installer binary the harness built.
pub fn omicron1_bin() -> PathBuf {
    std::env::var_os("OMICRON1_BIN")
        .map(PathBuf::from)
        .expect("OMICRON1_BIN is set by vm-tests/run.sh")
}

fn write(path: &Path, content: &[u8], mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Fixture {
    /// A fresh world for `test`: its dataset `tp/<test>` with a `zones` child,
    /// a system tree, and a baseline.
    pub fn new(test: &str) -> Fixture {
        let pool = test_pool();
        Fixture::under(test, &pool.root, &pool.mountpoint)
    }

    /// Like [`Fixture::new`], on a pool of the test's own (named after it, on a
    /// file): for tests of pool-wide commands (`template list`, `template gc`)
    /// that must not meet the other tests' templates.
    pub fn own_pool(test: &str) -> Fixture {
        let pool: DatasetName = test.replace('_', "-").parse().unwrap();
        let mountpoint = PathBuf::from("/tmp").join(pool.as_str());
        make_pool(&pool, &mountpoint);
        Fixture::under(test, &pool, &mountpoint)
    }

    fn under(test: &str, pool_root: &DatasetName, pool_mount: &Path) -> Fixture {
        let zfs = CliZfs::new();
        // Plain files live on the guest's tmpfs, not on ZFS.
        let dir = PathBuf::from("/tmp/fixtures").join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("dataset.key");
        std::fs::write(&key, "5a".repeat(32)).unwrap();
        let keylocation = format!("file://{}", key.display());
        let dataset = pool_root.child(test).unwrap();
        let encrypted = [
            ("encryption", "aes-256-gcm"),
            ("keyformat", "hex"),
            ("keylocation", keylocation.as_str()),
        ];
        let options = CreateOptions {
            parents: false,
            properties: &encrypted,
        };
        zfs.create(&dataset, &options)
            .unwrap_or_else(|e| panic!("{e}"));
        let zones = dataset.child("zones").unwrap();
        zfs.create(&zones, &CreateOptions::default()).unwrap();
        let mountpoint = pool_mount.join(test);
        let f = Fixture {
            dataset,
            mountpoint,
            source_root: dir.join("system"),
            baseline_dir: dir.join("baseline"),
            zones_dir: dir.join("zones"),
            run_dir: dir.join("run"),
            boot_id: format!("boot-{test}"),
            dir,
            zfs,
        };
        std::fs::create_dir_all(&f.zones_dir).unwrap();
        f.make_system_tree();
        f.make_baseline();
        f
    }

    /// A small system tree with each kind of file the replication treats differently.
    fn make_system_tree(&self) {
        let s = &self.source_root;
        write(
            &s.join("usr/bin/hello"),
            b"#!/bin/sh\necho hello from the system\n",
            0o755,
        );
        write(
            &s.join("usr/lib/libdemo.so.1"),
            b"\x7fELF not really",
            0o644,
        );
        write(&s.join("usr/share/doc/readme"), b"documentation\n", 0o640);
        write(
            &s.join("usr/lib/gz-only.conf"),
            b"global zone only\n",
            0o644,
        );
        write(&s.join("lib/libc.so.1"), b"\x7fELF libc", 0o755);
        write(
            &s.join("lib/svc/manifest/system/gz.xml"),
            b"<manifest/>",
            0o444,
        );
        write(&s.join("lib/svc/method/net"), b"#!/bin/sh\n", 0o555);
        write(&s.join("sbin/init"), b"\x7fELF init", 0o755);
        write(&s.join("etc/default/init"), b"TZ=UTC\n", 0o644);
        symlink("hello", s.join("usr/bin/hi")).unwrap();
    }

    /// The baseline: `etc` and `var` files, and a global-zone-only list.
    fn make_baseline(&self) {
        let root = self.dir.join("baseline-root");
        write(
            &root.join("etc/passwd"),
            b"root:x:0:0::/root:/bin/sh\n",
            0o644,
        );
        write(&root.join("etc/motd"), b"baseline motd\n", 0o644);
        write(
            &root.join("var/svc/profile/generic.xml"),
            b"<profile/>",
            0o644,
        );
        let include = self.dir.join("baseline-include");
        std::fs::write(&include, "etc\nvar\n").unwrap();
        let gzonly = self.dir.join("baseline-gzonly");
        std::fs::write(&gzonly, "usr/lib/gz-only.conf\n").unwrap();
        let out = Command::new(omicron1_bin())
            .args(["baseline", "create", "--root"])
            .arg(&root)
            .arg("--include")
            .arg(&include)
            .arg("--gzonly")
            .arg(&gzonly)
            .arg("--output")
            .arg(&self.baseline_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "baseline create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates the zonepath dataset of zone `name` (as zoneadm's
    /// `create_zfs_zonepath` does: mode 0700) and returns its path.
    pub fn zonepath(&self, name: &str) -> PathBuf {
        let ds = self.zonepath_dataset(name);
        self.zfs.create(&ds, &CreateOptions::default()).unwrap();
        let path = self.mountpoint.join("zones").join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        path
    }

    /// Whether zone `name` is installed on ZFS: its zonepath dataset is a
    /// clone (of a template, or of another zone).
    pub fn installed(&self, name: &str) -> bool {
        let ds = self.zonepath_dataset(name);
        matches!(self.zfs.get_value((&ds).into(), "origin"), Ok(Some(_)))
    }

    /// The zonepath dataset of zone `name`.
    pub fn zonepath_dataset(&self, name: &str) -> DatasetName {
        self.dataset.child("zones").unwrap().child(name).unwrap()
    }

    /// The dataset of zone `name`: its zonepath dataset, which install
    /// replaces with a clone of a template.
    pub fn root_dataset(&self, name: &str) -> DatasetName {
        self.zonepath_dataset(name)
    }

    /// The templates container for zones of this fixture: in its
    /// encryption root, the test's own dataset.
    pub fn templates(&self) -> DatasetName {
        self.dataset.child("omicron1-templates").unwrap()
    }

    /// A command running the installer with this fixture's settings.
    pub fn command(&self) -> Command {
        let mut c = Command::new(omicron1_bin());
        c.env("OMICRON1_SOURCE_ROOT", &self.source_root)
            .env("OMICRON1_BASELINE_DIR", &self.baseline_dir)
            .env("OMICRON1_ZONES_DIR", &self.zones_dir)
            .env("OMICRON1_RUN_DIR", &self.run_dir)
            .env("OMICRON1_BOOT_ID", &self.boot_id);
        c
    }

    /// Runs a zoneadm-style hook call: `omicron1 -z ZONE -R ZONEPATH ARGS...`.
    pub fn hook(&self, zone: &str, zonepath: &Path, args: &[&str]) -> Output {
        let out = self
            .command()
            .arg("-z")
            .arg(zone)
            .arg("-R")
            .arg(zonepath)
            .args(args)
            .output()
            .unwrap();
        eprintln!(
            "$ omicron1 -z {zone} -R {} {}\n{}{}exit {:?}",
            zonepath.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            out.status.code()
        );
        out
    }

    /// Writes a zonecfg XML file for `zone` into the zones folder.
    pub fn write_zone_config(&self, zone: &str, zonepath: &Path, extra: &str) {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<zone name=\"{zone}\" zonepath=\"{}\" brand=\"omicron1\" \
             ip-type=\"exclusive\">{extra}</zone>\n",
            zonepath.display()
        );
        std::fs::write(self.zones_dir.join(format!("{zone}.xml")), xml).unwrap();
    }

    /// A path for a new image file.
    pub fn image_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.tar.gz"))
    }
}

/// Creates a 1 GiB file-backed pool named `pool` mounted at `mountpoint`,
/// with `overlay=off` (illumos's mount rule) like the suite's pool.
pub fn make_pool(pool: &DatasetName, mountpoint: &Path) {
    let file = PathBuf::from("/tmp").join(format!("{pool}.img"));
    std::fs::File::create(&file)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let status = Command::new("/usr/sbin/zpool")
        .args([
            "create",
            "-f",
            "-o",
            "cachefile=none",
            "-O",
            "overlay=off",
            "-O",
        ])
        .arg(format!("mountpoint={}", mountpoint.display()))
        .arg(pool.as_str())
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success(), "zpool create {pool}");
}

/// One entry of an image made by [`Layer`].
pub enum Entry<'a> {
    /// A regular file: path under root/, contents, mode.
    File(&'a str, &'a [u8], u32),
    /// A directory with a mode.
    Dir(&'a str, u32),
    /// A symlink: path, target.
    Symlink(&'a str, &'a str),
    /// A hard link: path, target path (both under root/).
    Hardlink(&'a str, &'a str),
}

/// Builds a gzip tar image with `oxide.json` first.
pub struct Layer {
    builder: tar::Builder<flate2::write::GzEncoder<std::fs::File>>,
}

impl Layer {
    /// Starts an image at `path` with the given `oxide.json` text.
    pub fn new(path: &Path, oxide_json: &str) -> Layer {
        let file = std::fs::File::create(path).unwrap();
        let enc = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut l = Layer {
            builder: tar::Builder::new(enc),
        };
        l.raw_file(
            "oxide.json",
            oxide_json.as_bytes(),
            0o644,
            0,
            0,
            1_600_000_000,
        );
        l
    }

    /// A layer image with `{"v":"1","t":"layer","pkg":PKG,"version":"1.0.0"}`.
    #[allow(clippy::self_named_constructors)] // an image of type `layer`
    pub fn layer(path: &Path, pkg: &str) -> Layer {
        Layer::new(
            path,
            &format!(r#"{{"v":"1","t":"layer","pkg":"{pkg}","version":"1.0.0"}}"#),
        )
    }

    /// Adds a regular file with full metadata at an archive path (not under root/ unless given).
    pub fn raw_file(
        &mut self,
        path: &str,
        content: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
    ) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        self.builder.append_data(&mut h, path, content).unwrap();
        self
    }

    /// Adds entries under `root/`.
    pub fn entries(&mut self, entries: &[Entry<'_>]) -> &mut Self {
        for e in entries {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(1_600_000_000);
            h.set_uid(0);
            h.set_gid(0);
            match *e {
                Entry::File(p, content, mode) => {
                    self.raw_file(&format!("root/{p}"), content, mode, 0, 0, 1_600_000_000);
                }
                Entry::Dir(p, mode) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(mode);
                    h.set_size(0);
                    self.builder
                        .append_data(&mut h, format!("root/{p}/"), std::io::empty())
                        .unwrap();
                }
                Entry::Symlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    self.builder
                        .append_link(&mut h, format!("root/{p}"), target)
                        .unwrap();
                }
                Entry::Hardlink(p, target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_mode(0o644);
                    h.set_size(0);
                    self.builder
                        .append_link(&mut h, format!("root/{p}"), format!("root/{target}"))
                        .unwrap();
                }
            }
        }
        self
    }

    /// Adds an entry whose raw name bytes are written as given (hostile names).
    pub fn raw_name(&mut self, name: &[u8], content: &[u8]) -> &mut Self {
        let mut h = tar::Header::new_old();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        self.builder.append(&h, content).unwrap();
        self
    }

    /// Finishes the archive.
    pub fn finish(self) {
        let enc = self.builder.into_inner().unwrap();
        let mut file = enc.finish().unwrap();
        file.flush().unwrap();
    }
}

/// sha256 of a file, hex.
pub fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
