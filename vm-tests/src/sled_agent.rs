//! Oxide's sled-agent as it treats the datasets of omicron1 zones, imitated on
//! real OpenZFS: the U.2 pool's layout, the zone dataset it makes before each
//! install, the install call, and the adoption of a disk after a restart,
//! which mounts, archives and destroys every former zone root.
//!
//! Written from oxidecomputer/omicron:
//! `sled-agent/config-reconciler/src/reconciler_task/external_disks.rs`
//! (`archive_and_destroy_former_zone_roots`, `cleanup_former_zone_roots`),
//! `sled-agent/config-reconciler/src/dataset_serialization_task.rs`
//! (`ensure_one_dataset`), `illumos-utils/src/zfs.rs` (`list_datasets`,
//! `ensure_dataset_mounted_and_exists`, `dataset_mount_info`,
//! `ensure_empty_immutable_mountpoint`, `mount_dataset`, `destroy_dataset`),
//! `illumos-utils/src/zone.rs` (`install_omicron_zone`),
//! `common/src/zpool_name.rs` (`dataset_mountpoint`) and
//! `sled-agent/config-reconciler/src/debug_collector/` (`worker.rs`
//! `do_archive_former_zone_root`, `file_archiver/rules.rs`). Each function
//! names the one it imitates. Not imitated: the ledger, the `oxide:agent`
//! marker that skips a second cleanup in one process's life, directory
//! immutability (illumos-only), and the archive's destination (logs are
//! read and returned instead).

use std::path::{Path, PathBuf};

use crate::zoneadm::{run, Outcome, Zone, Zoneadm};

fn zfs(args: &[&str]) -> Result<String, String> {
    run("zfs", args)
}

/// One U.2 disk's pool as sled-agent lays it out: `oxp_<id>` mounted at
/// `<root>/pool/ext/<id>`, the encrypted `crypt` (a raw key in a file), and
/// `crypt/zone` and `crypt/debug` with mountpoints set locally.
#[derive(Debug, Clone)]
pub struct ExternalPool {
    /// The pool: `oxp_<id>`.
    pub name: String,
    /// The id part of the name.
    pub id: String,
    /// sled-agent's `mount_config.root` (`/` on a sled; a test folder here).
    pub root: PathBuf,
    /// The key file of `crypt`.
    pub key_file: PathBuf,
}

impl ExternalPool {
    /// `ZpoolName::dataset_mountpoint` (common/src/zpool_name.rs):
    /// `<root>/pool/ext/<id>/<dataset relative to the pool>`.
    pub fn dataset_mountpoint(&self, relative: &str) -> PathBuf {
        self.root.join("pool/ext").join(&self.id).join(relative)
    }

    /// `<pool>/crypt`.
    pub fn crypt(&self) -> String {
        format!("{}/crypt", self.name)
    }

    /// `<pool>/crypt/zone` (`ZONE_DATASET`), the parent of every zone root.
    pub fn zone_dataset(&self) -> String {
        format!("{}/crypt/zone", self.name)
    }

    /// The zonepath sled-agent configures for zone `zone` on this pool:
    /// the mountpoint of `crypt/zone/<zone>`.
    pub fn zonepath(&self, zone: &str) -> PathBuf {
        self.dataset_mountpoint(&format!("crypt/zone/{zone}"))
    }

    /// Lays the pool out as sled-agent does once a disk is adopted: `crypt`
    /// encrypted with a raw key (`Disk::new`), then `crypt/zone` and
    /// `crypt/debug` made by `ensure_one_dataset` (mountpoint set locally,
    /// `canmount=on`). The pool itself must exist.
    pub fn lay_out(&self) -> Result<(), String> {
        use std::io::Write;
        let mut key = std::fs::File::create(&self.key_file).map_err(|e| e.to_string())?;
        key.write_all(&[0x5a; 32]).map_err(|e| e.to_string())?;
        let crypt_mp = self.dataset_mountpoint("crypt");
        zfs(&[
            "create",
            "-o",
            "encryption=aes-256-gcm",
            "-o",
            "keyformat=raw",
            "-o",
            &format!("keylocation=file://{}", self.key_file.display()),
            "-o",
            &format!("mountpoint={}", crypt_mp.display()),
            &self.crypt(),
        ])?;
        for child in ["zone", "debug"] {
            ensure_dataset(
                &format!("{}/{child}", self.crypt()),
                &self.dataset_mountpoint(&format!("crypt/{child}")),
                None,
            )?;
        }
        Ok(())
    }

    /// sled-agent's disk adoption after a sled boots (`Disk::new`, then
    /// `archive_and_destroy_former_zone_roots`): loads `crypt`'s key and
    /// mounts `crypt`, `crypt/zone` and `crypt/debug` (`zfs mount -l`), then
    /// `cleanup_former_zone_roots`.
    pub fn adopt_after_boot(&self) -> Result<Vec<Archived>, String> {
        mount_dataset(&self.crypt())?;
        for child in ["zone", "debug"] {
            let name = format!("{}/{child}", self.crypt());
            ensure_dataset_mounted_and_exists(
                &name,
                &self.dataset_mountpoint(&format!("crypt/{child}")),
            )?;
        }
        cleanup_former_zone_roots(self)
    }
}

/// `Zfs::ensure_dataset` as `ensure_one_dataset` calls it
/// (dataset_serialization_task.rs, illumos-utils zfs.rs): create the dataset
/// if missing with `mountpoint` set locally, `canmount=on` and, for a zone's
/// dataset (`TransientZone`), `oxide:uuid`; mount it.
pub fn ensure_dataset(name: &str, mountpoint: &Path, uuid: Option<&str>) -> Result<(), String> {
    if zfs(&["list", "-H", "-o", "name", name]).is_err() {
        let mp = format!("mountpoint={}", mountpoint.display());
        let mut args = vec!["create", "-o", &mp, "-o", "canmount=on"];
        let id;
        if let Some(u) = uuid {
            id = format!("oxide:uuid={u}");
            args.extend(["-o", &id]);
        }
        args.push(name);
        zfs(&args)?;
    }
    ensure_dataset_mounted_and_exists(name, mountpoint)
}

/// `install_omicron_zone` (illumos-utils zone.rs): configure the zone
/// (brand omicron1, zonepath from the zone's dataset), then
/// `zoneadm -z ZONE install <zone image> /opt/oxide/overlay.tar.gz`; here
/// the overlay is a second image. (A zone found not running would be halted,
/// uninstalled with `-F` and deleted first: [`Zoneadm::uninstall`].)
pub fn install_omicron_zone(
    zoneadm: &Zoneadm<'_>,
    zone: &mut Zone,
    image: &Path,
    overlay: &Path,
) -> Outcome {
    zoneadm.install(
        zone,
        &[image.to_str().unwrap_or(""), overlay.to_str().unwrap_or("")],
    )
}

/// `Zfs::list_datasets` (illumos-utils zfs.rs): `zfs list -d 1 -rHpo name
/// NAME`, the direct children's names relative to NAME (filesystems and
/// volumes; no snapshots).
pub fn list_datasets(name: &str) -> Result<Vec<String>, String> {
    let out = zfs(&["list", "-d", "1", "-rHpo", "name", name])?;
    Ok(out
        .trim()
        .lines()
        .filter(|n| *n != name)
        .filter_map(|n| n.strip_prefix(&format!("{name}/")).map(str::to_string))
        .collect())
}

/// `dataset_mount_info` (illumos-utils zfs.rs): whether `name` exists and is
/// mounted, failing when it is not a filesystem mounted at `mountpoint`
/// (`zfs list -Hpo name,type,mountpoint,mounted`).
fn dataset_mount_info(name: &str, mountpoint: &Path) -> Result<Option<bool>, String> {
    let Ok(out) = zfs(&["list", "-Hpo", "name,type,mountpoint,mounted", name]) else {
        return Ok(None);
    };
    let values: Vec<&str> = out.trim().split('\t').collect();
    let expected = [name, "filesystem", &mountpoint.display().to_string()];
    if values.len() < 4 || values[..3] != expected {
        return Err(format!(
            "{name}: expected {expected:?}, `zfs list` says {values:?}"
        ));
    }
    Ok(Some(values[3] == "yes"))
}

/// `ensure_empty_immutable_mountpoint` (illumos-utils zfs.rs), without the
/// immutability: the mountpoint directory is created if missing; if it holds
/// anything, that is moved aside into `old-under-mountpoint-<name>-*` next to
/// it, so that the mount finds it empty.
fn ensure_empty_mountpoint(mountpoint: &Path) -> Result<(), String> {
    if !mountpoint.exists() {
        return std::fs::create_dir_all(mountpoint).map_err(|e| e.to_string());
    }
    let entries: Vec<_> = std::fs::read_dir(mountpoint)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let parent = mountpoint.parent().ok_or("bad mountpoint")?;
    let file = mountpoint
        .file_name()
        .ok_or("bad mountpoint")?
        .to_string_lossy();
    let dest = parent.join(format!(
        "old-under-mountpoint-{file}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dest).map_err(|e| e.to_string())?;
    for e in entries {
        std::fs::rename(e.path(), dest.join(e.file_name())).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `Zfs::mount_dataset` (illumos-utils zfs.rs): `zfs mount -l NAME`, loading
/// the key if needed.
pub fn mount_dataset(name: &str) -> Result<(), String> {
    let mounted = zfs(&["get", "-H", "-o", "value", "mounted", name])?;
    if mounted.trim() == "yes" {
        return Ok(());
    }
    zfs(&["mount", "-l", name]).map(|_| ())
}

/// `Zfs::ensure_dataset_mounted_and_exists` (illumos-utils zfs.rs): the
/// dataset must exist as a filesystem with exactly this mountpoint; if it is
/// not mounted, the mountpoint is emptied and the dataset mounted.
pub fn ensure_dataset_mounted_and_exists(name: &str, mountpoint: &Path) -> Result<(), String> {
    match dataset_mount_info(name, mountpoint)? {
        None => Err(format!("{name} does not exist")),
        Some(true) => Ok(()),
        Some(false) => {
            ensure_empty_mountpoint(mountpoint)?;
            mount_dataset(name)
        }
    }
}

/// `Zfs::destroy_dataset` (illumos-utils zfs.rs): `zfs destroy -r NAME`.
pub fn destroy_dataset(name: &str) -> Result<(), String> {
    zfs(&["destroy", "-r", name]).map(|_| ())
}

/// One log file the debug collector archived from a former zone root.
#[derive(Debug, Clone)]
pub struct Archived {
    /// The zone dataset's name relative to `crypt/zone`.
    pub zone: String,
    /// The file's path relative to the zone's root.
    pub path: String,
    /// Its contents.
    pub contents: Vec<u8>,
}

/// `do_archive_former_zone_root` (debug_collector worker.rs) with the rules
/// of `file_archiver/rules.rs`: from `<zonepath>/root`, the SMF logs
/// `var/svc/log/*.log` and `var/adm/messages`. Best effort, as there.
pub fn archive_former_zone_root(zone: &str, zonepath: &Path) -> Vec<Archived> {
    let root = zonepath.join("root");
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir(root.join("var/svc/log")) {
        for e in dir.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".log") {
                if let Ok(contents) = std::fs::read(e.path()) {
                    out.push(Archived {
                        zone: zone.to_string(),
                        path: format!("var/svc/log/{name}"),
                        contents,
                    });
                }
            }
        }
    }
    if let Ok(contents) = std::fs::read(root.join("var/adm/messages")) {
        out.push(Archived {
            zone: zone.to_string(),
            path: "var/adm/messages".to_string(),
            contents,
        });
    }
    out
}

/// `cleanup_former_zone_roots` (external_disks.rs): for every direct child
/// of `<pool>/crypt/zone` (`list_datasets`), ensure it is mounted at
/// `dataset_mountpoint("crypt/zone/<child>")`, archive the former zone's logs
/// from `<that>/root`, then `zfs destroy -r` it. The first error fails the
/// disk's adoption, as there.
pub fn cleanup_former_zone_roots(pool: &ExternalPool) -> Result<Vec<Archived>, String> {
    let parent = pool.zone_dataset();
    let mut archived = Vec::new();
    for child in list_datasets(&parent)? {
        let mountpoint = pool.dataset_mountpoint(&format!("crypt/zone/{child}"));
        let name = format!("{parent}/{child}");
        ensure_dataset_mounted_and_exists(&name, &mountpoint)
            .map_err(|e| format!("ensuring {name} mounted to archive it: {e}"))?;
        archived.extend(archive_former_zone_root(&child, &mountpoint));
        destroy_dataset(&name).map_err(|e| format!("destroying former zone root {name}: {e}"))?;
    }
    Ok(archived)
}
