//! The installer driven as it is on a Helios sled: by zoneadm
//! (`omicron1_vm_tests::zoneadm`, from illumos's `zoneadm.c` and `zfs.c`) and
//! by Oxide's sled-agent (`omicron1_vm_tests::sled_agent`, from omicron's
//! `external_disks.rs` and `illumos-utils`), on pools laid out as on a sled:
//! a U.2 pool `oxp_<id>` with the encrypted `crypt` (raw key in a file),
//! `crypt/zone` and `crypt/debug`, and an unencrypted `rpool`-like pool for
//! the ramdisk's zones. Pools here have `overlay=off`, so Linux refuses to
//! mount over a non-empty directory, as illumos does.
//!
//! Each test runs every step it can and fails at the end listing every step
//! that failed, so one run shows all that a sled would trip over.
//!
//! The contract (interface.md, "Datasets"): the zone is the zonepath dataset
//! itself, replaced by a clone of the template; templates live at
//! `<encryption root or pool root>/omicron1-templates`, never under
//! `crypt/zone`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_vm_tests::sled_agent::{self, ExternalPool};
use omicron1_vm_tests::zoneadm::{
    run, Cleanup, Zone, ZoneState, Zoneadm, ZONE_SUBPROC_FATAL, ZONE_SUBPROC_NOTCOMPLETE,
};

/// The steps that failed, in order; the test fails at the end if any did.
#[derive(Default)]
struct Steps {
    failed: Vec<String>,
}

impl Steps {
    /// Records `step` as failed with `why` unless `ok`. Returns `ok`.
    fn check(&mut self, ok: bool, step: &str, why: impl FnOnce() -> String) -> bool {
        if !ok {
            let why = why();
            eprintln!("STEP FAILED: {step}: {why}");
            self.failed.push(format!("{step}: {why}"));
        } else {
            eprintln!("step ok: {step}");
        }
        ok
    }

    fn finish(self) {
        assert!(
            self.failed.is_empty(),
            "{} step(s) failed:\n- {}",
            self.failed.len(),
            self.failed.join("\n- ")
        );
    }
}

fn zfs(args: &[&str]) -> Result<String, String> {
    run("zfs", args)
}

fn prop(ds: &str, name: &str) -> Option<String> {
    zfs(&["get", "-H", "-o", "value", name, ds])
        .ok()
        .map(|v| v.trim().to_string())
}

fn prop_source(ds: &str, name: &str) -> Option<String> {
    zfs(&["get", "-H", "-o", "source", name, ds])
        .ok()
        .map(|v| v.trim().to_string())
}

/// Names of every dataset and snapshot under `root` with origin and mountpoint.
fn listing(root: &str) -> String {
    zfs(&[
        "list",
        "-H",
        "-r",
        "-t",
        "all",
        "-o",
        "name,origin,mountpoint",
        root,
    ])
    .unwrap_or_default()
}

/// Every path under `dir`, with its size, for "nothing touched" checks.
fn tree(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let meta = match e.path().symlink_metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            out.push((e.path(), meta.len()));
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A sled's pools for one test, each on a file in `dir`, with `overlay=off`.
struct Pools {
    dir: PathBuf,
    names: Vec<String>,
}

impl Pools {
    fn new(test: &str) -> Pools {
        let dir = PathBuf::from("/tmp/helios-pools").join(test);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Pools {
            dir,
            names: Vec::new(),
        }
    }

    fn create(&mut self, name: &str, mountpoint: &Path) {
        let file = self.dir.join(format!("{name}.img"));
        std::fs::File::create(&file)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let mp = format!("mountpoint={}", mountpoint.display());
        run(
            "zpool",
            &[
                "create",
                "-f",
                "-o",
                "cachefile=none",
                "-O",
                "overlay=off",
                "-O",
                &mp,
                "-O",
                "compression=off",
                name,
                file.to_str().unwrap(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.names.push(name.to_string());
    }

    /// A reboot as the pools see it: exported (everything unmounted, keys
    /// dropped), `/var/run` (the run folder) emptied, a new boot id, imported
    /// again (filesystems whose keys are not loaded stay unmounted, as
    /// `crypt` on a sled until sled-agent loads its key).
    fn reboot(&self, f: &mut Fixture, boot: u32) {
        for p in &self.names {
            run("zpool", &["export", "-f", p]).unwrap_or_else(|e| panic!("{e}"));
        }
        let _ = std::fs::remove_dir_all(&f.run_dir);
        f.boot_id = format!(
            "{}-boot{boot}",
            f.boot_id.split("-boot").next().unwrap_or("b")
        );
        for p in &self.names {
            // Encrypted filesystems without their key are not mounted; the
            // import says so but succeeds.
            let out = Command::new("zpool")
                .args(["import", "-d", self.dir.to_str().unwrap(), p])
                .output()
                .unwrap();
            assert!(
                zfs(&["list", "-H", "-o", "name", p]).is_ok(),
                "import {p}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn images(f: &Fixture) -> (PathBuf, PathBuf) {
    let image = f.image_path("zone-image");
    let mut l = Layer::layer(&image, "oxide-app");
    l.entries(&[
        Entry::File("opt/oxide/app/bin/app", b"#!/bin/sh\necho app\n", 0o755),
        Entry::Dir("var/svc/log", 0o755),
    ]);
    l.finish();
    let overlay = f.image_path("overlay");
    let mut l = Layer::layer(&overlay, "overlay");
    l.entries(&[Entry::File("etc/overlay.conf", b"overlay\n", 0o644)]);
    l.finish();
    (image, overlay)
}

/// zonecfg: configures zone `name` (its XML where the installer reads
/// zonecfg's export) and returns it in state *configured*.
fn configure(f: &Fixture, name: &str, zonepath: &Path) -> Zone {
    f.write_zone_config(name, zonepath, "");
    Zone::configured(name, zonepath)
}

/// An image whose `oxide.json` reads fine but whose gzip stream is cut off:
/// `verify_adm` accepts it, the install fails while unpacking it.
fn truncated_image(f: &Fixture) -> PathBuf {
    let path = f.image_path("truncated");
    let mut l = Layer::layer(&path, "truncated");
    let big: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    l.entries(&[Entry::File("opt/big", &big, 0o644)]);
    l.finish();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    path
}

/// The zone "runs": its services write logs where the debug collector looks.
fn write_logs(zonepath: &Path, zone: &str) -> std::io::Result<()> {
    let root = zonepath.join("root");
    std::fs::create_dir_all(root.join("var/svc/log"))?;
    std::fs::create_dir_all(root.join("var/adm"))?;
    std::fs::write(root.join("var/svc/log/app.log"), format!("{zone} log\n"))?;
    std::fs::write(root.join("var/adm/messages"), format!("{zone} messages\n"))
}

/// Checks a zone installed on ZFS against the contract: the zonepath dataset
/// is a clone of `<templates>/...@ready`, shows the images under
/// `ZONEPATH/root`, and kept its mode and its local properties.
fn check_installed(
    steps: &mut Steps,
    step: &str,
    zonepath: &Path,
    dataset: &str,
    templates: &str,
    local_mountpoint: bool,
) {
    let origin = prop(dataset, "origin").unwrap_or_default();
    steps.check(
        origin.starts_with(&format!("{templates}/")) && origin.ends_with("@ready"),
        &format!("{step}: the zonepath dataset {dataset} is a clone of a template in {templates}"),
        || {
            format!(
                "origin is {origin:?}; datasets below it:\n{}",
                listing(dataset)
            )
        },
    );
    steps.check(
        zonepath.join("root/opt/oxide/app/bin/app").is_file()
            && zonepath.join("root/etc/overlay.conf").is_file(),
        &format!("{step}: ZONEPATH/root shows both images"),
        || format!("{} lacks them", zonepath.join("root").display()),
    );
    let mode = std::fs::metadata(zonepath).map(|m| m.permissions().mode() & 0o777);
    steps.check(
        matches!(mode, Ok(0o700)),
        &format!("{step}: zonepath mode 0700"),
        || format!("{mode:?}"),
    );
    let source = prop_source(dataset, "mountpoint").unwrap_or_default();
    steps.check(
        (source == "local") == local_mountpoint,
        &format!("{step}: {dataset}'s mountpoint kept its source"),
        || format!("source {source:?}"),
    );
    steps.check(
        prop(dataset, "mountpoint").as_deref() == Some(zonepath.to_str().unwrap())
            && prop(dataset, "mounted").as_deref() == Some("yes"),
        &format!("{step}: {dataset} is mounted at the zonepath"),
        || {
            format!(
                "{:?} {:?}",
                prop(dataset, "mountpoint"),
                prop(dataset, "mounted")
            )
        },
    );
}

#[test]
fn oxide_sled_installs_adopts_its_disk_after_a_reboot_and_installs_again() {
    let mut f = Fixture::new("helios_sled");
    let mut steps = Steps::default();
    let root = PathBuf::from("/tmp/helios-sled");
    let _ = std::fs::remove_dir_all(&root);
    let pool = ExternalPool {
        name: "oxp_00000000-0000-4000-8000-000000000001".to_string(),
        id: "00000000-0000-4000-8000-000000000001".to_string(),
        root: root.clone(),
        key_file: f.dir.join("crypt.key"),
    };
    let mut pools = Pools::new("helios_sled");
    pools.create(&pool.name, &root.join("pool/ext").join(&pool.id));
    pool.lay_out()
        .unwrap_or_else(|e| panic!("laying out {}: {e}", pool.name));
    let (image, overlay) = images(&f);
    let templates = format!("{}/omicron1-templates", pool.crypt());
    let zones = ["oxz_cockroachdb", "oxz_crucible"];

    // Boot 1: sled-agent makes each zone's dataset, then zoneadm installs.
    let mut first_origins = Vec::new();
    {
        let zoneadm = Zoneadm::new(&f);
        for (i, name) in zones.iter().enumerate() {
            let dataset = format!("{}/{name}", pool.zone_dataset());
            let zonepath = pool.zonepath(name);
            let uuid = format!("11111111-0000-4000-8000-00000000000{i}");
            sled_agent::ensure_dataset(&dataset, &zonepath, Some(&uuid))
                .unwrap_or_else(|e| panic!("ensure {dataset}: {e}"));
            let mut zone = configure(&f, name, &zonepath);
            let out = sled_agent::install_omicron_zone(&zoneadm, &mut zone, &image, &overlay);
            let installed = steps.check(out.ok, &format!("boot 1: zoneadm install {name}"), || {
                out.log.clone()
            });
            if installed {
                check_installed(
                    &mut steps,
                    &format!("boot 1: {name}"),
                    &zonepath,
                    &dataset,
                    &templates,
                    true,
                );
                steps.check(
                    prop(&dataset, "oxide:uuid").as_deref() == Some(uuid.as_str()),
                    &format!("boot 1: {name} kept sled-agent's oxide:uuid"),
                    || format!("{:?}", prop(&dataset, "oxide:uuid")),
                );
                steps.check(
                    prop(&dataset, "encryptionroot").as_deref() == Some(pool.crypt().as_str()),
                    &format!("boot 1: {name} is encrypted under {}", pool.crypt()),
                    || format!("encryptionroot {:?}", prop(&dataset, "encryptionroot")),
                );
                steps.check(
                    write_logs(&zonepath, name).is_ok(),
                    &format!("boot 1: {name} writes its logs"),
                    || "cannot write under ZONEPATH/root".to_string(),
                );
            }
            first_origins.push(prop(&dataset, "origin").unwrap_or_default());
        }
    }
    let children = sled_agent::list_datasets(&pool.zone_dataset()).unwrap_or_default();
    let mut want: Vec<String> = zones.iter().map(|z| z.to_string()).collect();
    want.sort();
    steps.check(
        children == want,
        "boot 1: crypt/zone holds only the zones' datasets",
        || format!("children {children:?}"),
    );

    // Reboot; sled-agent adopts the disk: mounts, archives, destroys every child of crypt/zone.
    pools.reboot(&mut f, 2);
    match pool.adopt_after_boot() {
        Ok(archived) => {
            for name in zones {
                let log = archived
                    .iter()
                    .find(|a| a.zone == name && a.path == "var/svc/log/app.log");
                steps.check(
                    log.map(|a| a.contents.as_slice()) == Some(format!("{name} log\n").as_bytes()),
                    &format!("boot 2: sled-agent archived {name}'s SMF log from ZONEPATH/root"),
                    || {
                        format!(
                            "archived: {:?}",
                            archived
                                .iter()
                                .map(|a| (&a.zone, &a.path))
                                .collect::<Vec<_>>()
                        )
                    },
                );
            }
        }
        Err(e) => {
            steps.check(
                false,
                "boot 2: sled-agent adopts the disk (cleanup_former_zone_roots)",
                || format!("{e}\n{}", listing(&pool.crypt())),
            );
        }
    }
    let left = sled_agent::list_datasets(&pool.zone_dataset()).unwrap_or_default();
    steps.check(
        left.is_empty(),
        "boot 2: no former zone root is left",
        || format!("{left:?}"),
    );
    steps.check(
        zfs(&["list", "-H", "-o", "name", &templates]).is_ok(),
        &format!("boot 2: the templates container {templates} survived the adoption"),
        || listing(&pool.crypt()),
    );

    // Boot 2: install again (a new template for the new boot), then collect the old one.
    let zoneadm = Zoneadm::new(&f);
    for (i, name) in zones.iter().enumerate() {
        let dataset = format!("{}/{name}", pool.zone_dataset());
        let zonepath = pool.zonepath(name);
        let uuid = format!("22222222-0000-4000-8000-00000000000{i}");
        if let Err(e) = sled_agent::ensure_dataset(&dataset, &zonepath, Some(&uuid)) {
            steps.check(
                false,
                &format!("boot 2: sled-agent ensures {dataset}"),
                || e,
            );
            continue;
        }
        let mut zone = configure(&f, name, &zonepath);
        let out = sled_agent::install_omicron_zone(&zoneadm, &mut zone, &image, &overlay);
        if steps.check(out.ok, &format!("boot 2: zoneadm install {name}"), || {
            out.log.clone()
        }) {
            check_installed(
                &mut steps,
                &format!("boot 2: {name}"),
                &zonepath,
                &dataset,
                &templates,
                true,
            );
            let origin = prop(&dataset, "origin").unwrap_or_default();
            steps.check(
                !first_origins.contains(&origin),
                &format!("boot 2: {name} is a clone of this boot's template"),
                || format!("origin {origin} is boot 1's"),
            );
        }
    }
    let gc = f
        .command()
        .args(["template", "gc", "--pool", &pool.name])
        .output()
        .unwrap();
    steps.check(gc.status.success(), "boot 2: template gc", || {
        String::from_utf8_lossy(&gc.stderr).into_owned()
    });
    for old in first_origins.iter().filter(|o| o.contains('@')) {
        let ds = old.split('@').next().unwrap_or_default();
        steps.check(
            zfs(&["list", "-H", "-o", "name", ds]).is_err(),
            &format!("boot 2: template gc destroyed boot 1's template {ds}"),
            || listing(&templates),
        );
    }

    // sled-agent replaces a zone: uninstall -F, then the dataset is its to reuse.
    let name = zones[1];
    let mut zone = Zone {
        name: name.to_string(),
        zonepath: pool.zonepath(name),
        state: ZoneState::Installed,
    };
    let out = zoneadm.uninstall(&mut zone);
    steps.check(
        out.ok,
        &format!("boot 2: zoneadm uninstall -F {name}"),
        || out.log.clone(),
    );
    let dataset = format!("{}/{name}", pool.zone_dataset());
    let origin = prop(&dataset, "origin");
    steps.check(
        origin.is_none() || origin.as_deref() == Some("-"),
        &format!("boot 2: after uninstall {dataset} is no clone"),
        || format!("origin {origin:?}"),
    );
    steps.finish();
}

#[test]
fn ramdisk_zones_on_an_unencrypted_pool_install_clone_fail_and_uninstall() {
    let f = Fixture::new("helios_ramdisk");
    let mut steps = Steps::default();
    let root = PathBuf::from("/tmp/helios-ramdisk");
    let _ = std::fs::remove_dir_all(&root);
    let pool = "hrpool-ramdisk";
    let mut pools = Pools::new("helios_ramdisk");
    pools.create(pool, &root.join("rpool"));
    let zone_parent = format!("{pool}/zone");
    zfs(&[
        "create",
        "-o",
        &format!("mountpoint={}", root.join("zone").display()),
        &zone_parent,
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let templates = format!("{pool}/omicron1-templates");
    let (image, overlay) = images(&f);
    let zoneadm = Zoneadm::new(&f);

    // zoneadm makes the zonepath dataset (create_zfs_zonepath), mountpoint inherited.
    let zonepath = root.join("zone/oxz_switch");
    let dataset = format!("{zone_parent}/oxz_switch");
    let mut zone = configure(&f, "oxz_switch", &zonepath);
    let out = zoneadm.install(
        &mut zone,
        &[image.to_str().unwrap(), overlay.to_str().unwrap()],
    );
    if steps.check(
        out.ok,
        "zoneadm install oxz_switch (zoneadm made the dataset)",
        || out.log.clone(),
    ) {
        check_installed(
            &mut steps,
            "oxz_switch",
            &zonepath,
            &dataset,
            &templates,
            false,
        );
    }

    // zoneadm clone: the zonepath is only a directory; the hook makes the dataset.
    let clone_path = root.join("zone/oxz_switch2");
    let clone_ds = format!("{zone_parent}/oxz_switch2");
    let mut clone = configure(&f, "oxz_switch2", &clone_path);
    let out = zoneadm.clone(&mut clone, &zone, None);
    if steps.check(out.ok, "zoneadm clone oxz_switch2 from oxz_switch", || {
        out.log.clone()
    }) {
        steps.check(
            prop(&clone_ds, "origin").is_some_and(|o| o.starts_with(&format!("{dataset}@"))),
            "clone: the dataset create_zfs_zonepath would name is a clone of the source's",
            || listing(pool),
        );
        steps.check(
            clone_path.join("root/opt/oxide/app/bin/app").is_file(),
            "clone: ZONEPATH/root shows the source's files",
            || format!("{}", clone_path.display()),
        );
    }
    for z in [&mut clone, &mut zone] {
        if z.state == ZoneState::Configured {
            continue;
        }
        let out = zoneadm.uninstall(z);
        steps.check(out.ok, &format!("zoneadm uninstall -F {}", z.name), || {
            out.log.clone()
        });
    }

    // A failed install (an image cut short) exits 254; zoneadm's
    // cleanup_zonepath then leaves the zone configured, and the template intact.
    let bad_path = root.join("zone/oxz_bad");
    let mut bad = configure(&f, "oxz_bad", &bad_path);
    let truncated = truncated_image(&f);
    let out = zoneadm.install(&mut bad, &[truncated.to_str().unwrap()]);
    steps.check(
        out.hook_exit == Some(ZONE_SUBPROC_NOTCOMPLETE),
        "install with an image cut short exits 254",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    steps.check(
        bad.state == ZoneState::Configured
            && out.cleanup == Some(Cleanup::DestroyedDataset(format!("{zone_parent}/oxz_bad"))),
        "after 254 zoneadm's cleanup_zonepath destroys the (empty) zonepath dataset",
        || format!("{:?} {:?}", bad.state, out.cleanup),
    );
    let snapshots = zfs(&[
        "list", "-H", "-r", "-t", "snapshot", "-o", "name", &templates,
    ])
    .unwrap_or_default();
    steps.check(
        snapshots.lines().any(|s| s.ends_with("@ready")),
        "the template's @ready survives zoneadm's cleanup",
        || listing(pool),
    );
    let mut again = configure(&f, "oxz_bad", &bad_path);
    let out = zoneadm.install(&mut again, &[image.to_str().unwrap()]);
    steps.check(out.ok, "install after a 254 and zoneadm's cleanup", || {
        out.log.clone()
    });
    steps.finish();
}

#[test]
fn install_over_a_detached_zone_exits_255_and_touches_nothing() {
    let f = Fixture::new("helios_detach");
    let mut steps = Steps::default();
    let root = PathBuf::from("/tmp/helios-detach");
    let _ = std::fs::remove_dir_all(&root);
    let pool = "hrpool-detach";
    let mut pools = Pools::new("helios_detach");
    pools.create(pool, &root.join("rpool"));
    let zone_parent = format!("{pool}/zone");
    zfs(&[
        "create",
        "-o",
        &format!("mountpoint={}", root.join("zone").display()),
        &zone_parent,
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let (image, overlay) = images(&f);
    let zoneadm = Zoneadm::new(&f);
    let zonepath = root.join("zone/oxz_ntp");
    let mut zone = configure(&f, "oxz_ntp", &zonepath);
    let out = zoneadm.install(
        &mut zone,
        &[image.to_str().unwrap(), overlay.to_str().unwrap()],
    );
    assert!(out.ok, "install: {}", out.log);
    std::fs::write(zonepath.join("root/var/svc/log/ntp.log"), b"precious\n").unwrap();

    let out = zoneadm.detach(&mut zone);
    steps.check(
        out.ok && zone.state == ZoneState::Configured,
        "zoneadm detach",
        || out.log.clone(),
    );
    zone.state = ZoneState::Configured;
    let before = (listing(pool), tree(&zonepath));
    let out = zoneadm.install(&mut zone, &[image.to_str().unwrap()]);
    steps.check(
        out.hook_exit == Some(ZONE_SUBPROC_FATAL),
        "install over the detached zone exits 255",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    steps.check(out.cleanup.is_none(), "zoneadm cleans nothing", || {
        format!("{:?}", out.cleanup)
    });
    let after = (listing(pool), tree(&zonepath));
    steps.check(
        before == after,
        "the detached zone's datasets and files are untouched",
        || format!("before:\n{}\nafter:\n{}", before.0, after.0),
    );
    steps.check(
        std::fs::read(zonepath.join("root/var/svc/log/ntp.log"))
            .ok()
            .as_deref()
            == Some(&b"precious\n"[..]),
        "the zone's own file is still there",
        || "gone".to_string(),
    );
    steps.finish();
}

impl Pools {
    /// A pool whose root dataset's `mountpoint` is `value` (`none`,
    /// `legacy` or a path).
    fn create_with(&mut self, name: &str, value: &str) {
        let file = self.dir.join(format!("{name}.img"));
        std::fs::File::create(&file)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let mp = format!("mountpoint={value}");
        run(
            "zpool",
            &[
                "create",
                "-f",
                "-o",
                "cachefile=none",
                "-O",
                "overlay=off",
                "-O",
                &mp,
                name,
                file.to_str().unwrap(),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        self.names.push(name.to_string());
    }
}

impl Drop for Pools {
    fn drop(&mut self) {
        for p in &self.names {
            let _ = run("zpool", &["destroy", "-f", p]);
        }
    }
}

#[test]
fn templates_never_depend_on_the_mountpoint_a_pool_root_gives() {
    let f = Fixture::new("helios_mountpoints");
    let mut steps = Steps::default();
    let (image, overlay) = images(&f);
    let zoneadm = Zoneadm::new(&f);
    let top = PathBuf::from("/tmp/helios-mountpoints");
    let _ = std::fs::remove_dir_all(&top);
    let mut pools = Pools::new("helios_mountpoints");
    for mode in ["none", "legacy", "inherited"] {
        let pool = format!("hm-{mode}");
        // The zones' parent: its own mountpoint under a pool root without one,
        // or the one it inherits from the pool root.
        let zone_dir = top.join(mode).join("zone");
        if mode == "inherited" {
            pools.create_with(&pool, top.join(mode).to_str().unwrap());
            zfs(&["create", &format!("{pool}/zone")]).unwrap_or_else(|e| panic!("{e}"));
        } else {
            pools.create_with(&pool, mode);
            let mp = format!("mountpoint={}", zone_dir.display());
            zfs(&["create", "-o", &mp, &format!("{pool}/zone")]).unwrap_or_else(|e| panic!("{e}"));
        }
        let name = format!("oxz_{mode}");
        let zonepath = zone_dir.join(&name);
        let dataset = format!("{pool}/zone/{name}");
        let mut zone = configure(&f, &name, &zonepath);
        let out = zoneadm.install(
            &mut zone,
            &[image.to_str().unwrap(), overlay.to_str().unwrap()],
        );
        if steps.check(
            out.ok,
            &format!("pool root mountpoint={mode}: zoneadm install"),
            || out.log.clone(),
        ) {
            check_installed(
                &mut steps,
                &format!("pool root mountpoint={mode}"),
                &zonepath,
                &dataset,
                &format!("{pool}/omicron1-templates"),
                false,
            );
        }
        let out = zoneadm.uninstall(&mut zone);
        steps.check(
            out.ok && prop(&dataset, "origin").as_deref() == Some("-"),
            &format!("pool root mountpoint={mode}: uninstall leaves the empty dataset"),
            || format!("{}\n{}", out.log, listing(&pool)),
        );
    }
    steps.finish();
}

/// One row of the exit-code table: what failed, the exit code, and what
/// zoneadm did next.
struct Row {
    call: &'static str,
    path: &'static str,
    exit: Option<i32>,
    zoneadm: String,
}

fn zoneadm_next(out: &omicron1_vm_tests::zoneadm::Outcome, zone: &Zone) -> String {
    match &out.cleanup {
        Some(c) => format!("cleanup_zonepath: {c:?}; zone {:?}", zone.state),
        None => format!("cleans nothing; zone {:?}", zone.state),
    }
}

#[test]
fn every_failure_exits_with_the_code_that_makes_zoneadm_do_the_right_thing() {
    let mut f = Fixture::new("helios_exits");
    let mut steps = Steps::default();
    let root = PathBuf::from("/tmp/helios-exits");
    let _ = std::fs::remove_dir_all(&root);
    let pool = "hx-exits";
    let mut pools = Pools::new("helios_exits");
    pools.create(pool, &root.join("rpool"));
    let parent = format!("{pool}/zone");
    let mp = format!("mountpoint={}", root.join("zone").display());
    zfs(&["create", "-o", &mp, &parent]).unwrap_or_else(|e| panic!("{e}"));
    let (image, _) = images(&f);
    let img = image.to_str().unwrap().to_string();
    let mut rows: Vec<Row> = Vec::new();
    let zp = |name: &str| root.join("zone").join(name);

    // install: the hook fails before or after the swap and rolls back: 254,
    // and zoneadm destroys the (empty, restored) zonepath dataset.
    let truncated = truncated_image(&f);
    let mut z = configure(&f, "x_cut", &zp("x_cut"));
    let out = Zoneadm::new(&f).install(&mut z, &[truncated.to_str().unwrap()]);
    steps.check(
        out.hook_exit == Some(254)
            && z.state == ZoneState::Configured
            && matches!(out.cleanup, Some(Cleanup::DestroyedDataset(_))),
        "install: an image cut off midway: 254, zoneadm destroys the empty dataset",
        || format!("{:?} {:?}\n{}", out.hook_exit, out.cleanup, out.log),
    );
    rows.push(Row {
        call: "install",
        path: "an image fails to unpack (after the swap; rolled back)",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &z),
    });

    f.write_zone_config(
        "x_deleg",
        &zp("x_deleg"),
        &format!("<dataset name=\"{pool}/no-such-dataset\"/>"),
    );
    let mut z = Zone::configured("x_deleg", &zp("x_deleg"));
    let out = Zoneadm::new(&f).install(&mut z, &[&img]);
    steps.check(
        out.hook_exit == Some(254) && z.state == ZoneState::Configured,
        "install: a delegated dataset breaks a rule: 254",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    rows.push(Row {
        call: "install",
        path: "a delegated dataset breaks a rule (before the swap)",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &z),
    });

    let baseline = std::mem::replace(&mut f.baseline_dir, root.join("no-baseline"));
    let mut z = configure(&f, "x_nobase", &zp("x_nobase"));
    let out = Zoneadm::new(&f).install(&mut z, &[&img]);
    f.baseline_dir = baseline;
    steps.check(
        out.hook_exit == Some(254) && z.state == ZoneState::Configured,
        "install: no baseline, so no template: 254",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    rows.push(Row {
        call: "install",
        path: "no template can be built (no baseline)",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &z),
    });

    // install over a zonepath holding what it did not make: 255, untouched,
    // and zoneadm cleans nothing.
    type Setup = fn(&str, &Path);
    let occupied: [(&'static str, &str, Setup); 3] = [
        ("a file in the zonepath", "x_file", |_, zp| {
            std::fs::write(zp.join("keep.txt"), b"mine\n").unwrap();
        }),
        ("a child dataset", "x_child", |ds, _| {
            zfs(&["create", &format!("{ds}/child")]).unwrap();
        }),
        ("a snapshot", "x_snap", |ds, _| {
            zfs(&["snapshot", &format!("{ds}@mine")]).unwrap();
        }),
    ];
    for (what, name, setup) in occupied {
        let dataset = format!("{parent}/{name}");
        let path = zp(name);
        zfs(&["create", &dataset]).unwrap();
        setup(&dataset, &path);
        let before = (listing(&dataset), tree(&path));
        let mut z = configure(&f, name, &path);
        let out = Zoneadm::new(&f).install(&mut z, &[&img]);
        steps.check(
            out.hook_exit == Some(ZONE_SUBPROC_FATAL)
                && out.cleanup.is_none()
                && z.state == ZoneState::Incomplete
                && (listing(&dataset), tree(&path)) == before,
            &format!("install over {what}: 255, nothing touched, nothing cleaned"),
            || format!("{:?} {:?}\n{}", out.hook_exit, out.cleanup, out.log),
        );
        rows.push(Row {
            call: "install",
            path: what,
            exit: out.hook_exit,
            zoneadm: zoneadm_next(&out, &z),
        });
    }

    // zoneadm's verify_adm refuses an option the brand does not know.
    let mut z = configure(&f, "x_opt", &zp("x_opt"));
    let out = Zoneadm::new(&f).install(&mut z, &["-q", &img]);
    steps.check(
        out.verify_exit == Some(253) && out.hook_exit.is_none(),
        "verify_adm install -q: 253 before anything",
        || format!("{:?}\n{}", out.verify_exit, out.log),
    );
    rows.push(Row {
        call: "verify_adm install",
        path: "an unknown option",
        exit: out.verify_exit,
        zoneadm: format!("runs no install hook; zone {:?}", z.state),
    });

    // A zone and a clone of it, for the uninstall and clone rows.
    let mut src = configure(&f, "x_src", &zp("x_src"));
    let out = Zoneadm::new(&f).install(&mut src, &[&img]);
    assert!(out.ok, "{}", out.log);
    let mut copy = configure(&f, "x_copy", &zp("x_copy"));
    let out = Zoneadm::new(&f).clone(&mut copy, &src, None);
    steps.check(out.ok, "clone x_copy from x_src", || out.log.clone());

    let out = Zoneadm::new(&f).uninstall(&mut src);
    steps.check(
        out.hook_exit == Some(254)
            && src.state == ZoneState::Incomplete
            && prop(&format!("{parent}/x_src"), "origin").is_some_and(|o| o != "-"),
        "uninstall of a zone another was cloned from: 254, the zone stays",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    rows.push(Row {
        call: "uninstall",
        path: "other zones are cloned from it",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &src),
    });

    let mut z = configure(&f, "x_cfile", &zp("x_cfile"));
    std::fs::create_dir_all(zp("x_cfile")).unwrap();
    std::fs::write(zp("x_cfile").join("keep.txt"), b"mine\n").unwrap();
    src.state = ZoneState::Installed;
    let out = Zoneadm::new(&f).clone(&mut z, &src, None);
    steps.check(
        out.hook_exit == Some(ZONE_SUBPROC_FATAL)
            && zp("x_cfile").join("keep.txt").is_file()
            && zfs(&["list", &format!("{parent}/x_cfile")]).is_err(),
        "clone into a zonepath holding a file: 255, nothing touched",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    rows.push(Row {
        call: "clone",
        path: "the zonepath folder holds a file",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &z),
    });

    let mut z = configure(&f, "x_csnap", &zp("x_csnap"));
    let foreign = format!("{parent}/x_copy@nope");
    let out = Zoneadm::new(&f).clone(&mut z, &src, Some(&foreign));
    steps.check(
        out.hook_exit == Some(254) && zfs(&["list", &format!("{parent}/x_csnap")]).is_err(),
        "clone -s with another dataset's snapshot: 254, nothing made",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    rows.push(Row {
        call: "clone",
        path: "-s names a snapshot of another dataset",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &z),
    });

    let mut z = configure(&f, "x_cnone", &zp("x_cnone"));
    let mut empty = configure(&f, "x_empty", &zp("x_empty"));
    zfs(&["create", &format!("{parent}/x_empty")]).unwrap();
    empty.state = ZoneState::Installed;
    let out = Zoneadm::new(&f).clone(&mut z, &empty, None);
    steps.check(
        out.hook_exit == Some(254),
        "clone of a zone that is not installed: 254",
        || format!("{:?}\n{}", out.hook_exit, out.log),
    );
    rows.push(Row {
        call: "clone",
        path: "the source zone is not installed",
        exit: out.hook_exit,
        zoneadm: zoneadm_next(&out, &z),
    });

    eprintln!("| call | failure | exit | zoneadm then |");
    eprintln!("|---|---|---|---|");
    for r in &rows {
        eprintln!("| {} | {} | {:?} | {} |", r.call, r.path, r.exit, r.zoneadm);
    }
    steps.finish();
}

#[test]
fn a_clone_that_exists_but_failed_to_mount_is_rolled_back() {
    use omicron1_vm_tests::stop::hook_until;
    let f = Fixture::new("helios_unmounted");
    let mut steps = Steps::default();
    let root = PathBuf::from("/tmp/helios-unmounted");
    let _ = std::fs::remove_dir_all(&root);
    let pool = "hu-unmounted";
    let mut pools = Pools::new("helios_unmounted");
    pools.create(pool, &root.join("rpool"));
    let parent = format!("{pool}/zone");
    let mp = format!("mountpoint={}", root.join("zone").display());
    zfs(&["create", "-o", &mp, &parent]).unwrap_or_else(|e| panic!("{e}"));
    let (image, _) = images(&f);
    let img = image.to_str().unwrap();
    let zoneadm = Zoneadm::new(&f);
    let mut src = configure(&f, "u_src", &root.join("zone/u_src"));
    let out = zoneadm.install(&mut src, &[img]);
    assert!(out.ok, "{}", out.log);

    // The clone hook: zoneadm made the folder; a file lands in it after the
    // hook checked it, so `zfs clone` makes the dataset and fails to mount it
    // (overlay=off, as illumos). The hook destroys it and its snapshot: 254.
    let path = root.join("zone/u_clone");
    configure(&f, "u_clone", &path);
    std::fs::create_dir_all(&path).unwrap();
    let stopped = hook_until(&f, "u_clone", &path, &["clone", "u_src"], "before-clone");
    std::fs::write(path.join("stray"), b"not the hook's\n").unwrap();
    let done = stopped.resume();
    steps.check(done.code == 254, "clone hook: the mount fails: 254", || {
        done.output.clone()
    });
    steps.check(
        zfs(&["list", &format!("{parent}/u_clone")]).is_err(),
        "clone hook: the clone that failed to mount is destroyed",
        || listing(pool),
    );
    steps.check(
        zfs(&[
            "list",
            "-t",
            "snapshot",
            &format!("{parent}/u_src@clone-u_clone"),
        ])
        .is_err(),
        "clone hook: its snapshot of the source is destroyed",
        || listing(pool),
    );
    steps.check(
        path.join("stray").is_file(),
        "clone hook: the stray file is kept",
        || "gone".into(),
    );

    // Install: the empty dataset is destroyed, then a file lands in the
    // zonepath folder: the clone is made and not mounted; rollback destroys
    // it and makes the empty dataset again, which cannot be mounted either:
    // 255 (state left behind), and the dataset is back, no clone.
    let path = root.join("zone/u_inst");
    let dataset = format!("{parent}/u_inst");
    zfs(&["create", "-o", "oxide:uuid=u1", &dataset]).unwrap();
    configure(&f, "u_inst", &path);
    let stopped = hook_until(&f, "u_inst", &path, &["install", img], "after-destroy");
    std::fs::create_dir_all(&path).unwrap();
    std::fs::write(path.join("stray"), b"not the hook's\n").unwrap();
    let done = stopped.resume();
    steps.check(
        done.code == ZONE_SUBPROC_FATAL,
        "install: the clone and the restored dataset fail to mount: 255",
        || done.output.clone(),
    );
    steps.check(
        prop(&dataset, "origin").as_deref() == Some("-")
            && prop(&dataset, "oxide:uuid").as_deref() == Some("u1"),
        "install: the clone is destroyed and the zonepath dataset is back with its property",
        || listing(pool),
    );
    steps.check(
        path.join("stray").is_file(),
        "install: the stray file is kept",
        || "gone".into(),
    );
    steps.finish();
}
