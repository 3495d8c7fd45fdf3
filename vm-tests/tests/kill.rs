//! Installs and template builds killed with SIGKILL part way, on real ZFS.
//!
//! SIGKILL cannot be caught, so nothing rolls back: what a kill leaves must be
//! harmless and cleaned up by the next build or by `uninstall -F`. The tests
//! choose where the installer dies with the fault-injection hook
//! (`OMICRON1_STOP_AT=POINT[#N]`, see `src/faults.rs`): the installer stops
//! itself with SIGSTOP on reaching the point; the test sees it stopped
//! (`waitpid` with `WUNTRACED`), looks at what it left, and kills it.
//!
//! What they prove:
//! - a template whose build was killed (during the replication of each tree,
//!   after pruning, during the baseline unpack, before its snapshot) is never
//!   cloned: the next install destroys it and builds a new one — even an
//!   install that was already waiting for the killed build — and nothing
//!   written into the half-built template reaches a zone;
//! - a build killed just after its snapshot left a complete template, which
//!   the next install uses as it is;
//! - the build lock dies with its holder;
//! - an install killed at any step of the swap of the zonepath dataset —
//!   before it, after the empty dataset is destroyed, after the clone, during
//!   the unpack of its layers, before recording them — is recovered from both
//!   by `uninstall -F` (which puts back the empty zonepath dataset with its
//!   local properties, mode and owner) and by the next install (which does
//!   the same, then installs);
//! - the template is not changed by any of it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_zfs::{DatasetName, Zfs};

/// How long an installer may take to reach a point (emulation is slow).
const DEADLINE: Duration = Duration::from_secs(600);

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// An installer started with `OMICRON1_STOP_AT`, now stopped at its point.
struct Stopped {
    pid: Pid,
    point: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Starts `install` for `zone` with extra environment, not waiting for it.
#[allow(clippy::zombie_processes)] // reaped by pid (`wait_exit`), not through the handle
fn spawn_install(
    f: &Fixture,
    zone: &str,
    zp: &Path,
    image: &Path,
    env: &[(&str, &str)],
) -> (Pid, PathBuf, PathBuf) {
    let stdout = f.dir.join(format!("{zone}.stdout"));
    let stderr = f.dir.join(format!("{zone}.stderr"));
    let mut cmd = f.command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zp)
        .arg("install")
        .arg(image)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    // Reaped below with waitpid; dropping the handle neither waits nor kills.
    (Pid::from_raw(child.id() as i32), stdout, stderr)
}

/// Runs `install` of `zone` until it stops at `point`.
fn install_until(
    f: &Fixture,
    zone: &str,
    zp: &Path,
    image: &Path,
    point: &str,
    env: &[(&str, &str)],
) -> Stopped {
    let mut env = env.to_vec();
    env.push(("OMICRON1_STOP_AT", point));
    let (pid, stdout, stderr) = spawn_install(f, zone, zp, image, &env);
    let started = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive if started.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(20))
            }
            WaitStatus::Stopped(_, Signal::SIGSTOP) => break,
            other => {
                let _ = kill(pid, Signal::SIGKILL);
                panic!(
                    "{zone}: the installer did not stop at {point} ({other:?} after {:?}):\n{}{}",
                    started.elapsed(),
                    read(&stdout),
                    read(&stderr)
                );
            }
        }
    }
    let name = point.split('#').next().unwrap();
    let said = read(&stderr);
    assert!(
        said.contains(&format!("stopping at {name}#")),
        "{zone}: {said}"
    );
    eprintln!("{zone}: stopped at {point} after {:?}", started.elapsed());
    Stopped {
        pid,
        point: point.to_string(),
        stdout,
        stderr,
    }
}

impl Stopped {
    /// SIGKILL, then reap; returns what it printed.
    fn kill(self) -> String {
        kill(self.pid, Signal::SIGKILL).unwrap();
        match waitpid(self.pid, None).unwrap() {
            WaitStatus::Signaled(_, Signal::SIGKILL, _) => {}
            other => panic!("{}: {other:?}", self.point),
        }
        let out = read(&self.stdout);
        eprintln!("killed at {}:\n{out}{}", self.point, read(&self.stderr));
        out
    }

    fn stdout(&self) -> String {
        read(&self.stdout)
    }
}

/// Waits for a process started by [`spawn_install`] to exit; its exit code.
fn wait_exit(pid: Pid) -> i32 {
    match waitpid(pid, None).unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

fn ok(f: &Fixture, zone: &str, zp: &Path, image: &Path) -> String {
    let out = f.hook(zone, zp, &["install", image.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{zone}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn get(f: &Fixture, ds: &DatasetName, prop: &str) -> Option<String> {
    f.zfs.get_value(ds.into(), prop).unwrap()
}

fn exists(f: &Fixture, ds: &DatasetName) -> bool {
    f.zfs.exists(ds.into()).unwrap()
}

fn templates(f: &Fixture) -> Vec<DatasetName> {
    f.zfs.children(&f.templates()).unwrap_or_default()
}

fn ready(ds: &DatasetName) -> omicron1_zfs::SnapshotName {
    ds.snapshot("ready").unwrap()
}

/// Entries the replication walk visits in a source tree (everything below it,
/// links not followed): the `replicate-entry` hits the tree accounts for.
fn walk_count(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        n += 1;
        if e.file_type().unwrap().is_dir() {
            n += walk_count(&e.path());
        }
    }
    n
}

fn image(f: &Fixture, name: &str, files: usize) -> PathBuf {
    let path = f.image_path(name);
    let names: Vec<String> = (0..files).map(|i| format!("opt/f{i}")).collect();
    let entries: Vec<Entry<'_>> = names
        .iter()
        .map(|n| Entry::File(n, b"data\n", 0o644))
        .collect();
    let mut l = Layer::layer(&path, name);
    l.entries(&entries);
    l.finish();
    path
}

#[test]
fn killed_template_builds_are_never_cloned() {
    let f = Fixture::new("kill_build");
    let img = image(&f, "app", 2);
    let src = &f.source_root;
    let (usr, lib, sbin) = (
        walk_count(&src.join("usr")),
        walk_count(&src.join("lib")),
        walk_count(&src.join("sbin")),
    );
    assert!(usr >= 3 && lib >= 3 && sbin >= 1, "{usr} {lib} {sbin}");
    // The walk does usr, then lib, then sbin: the second entry of each.
    let points = [
        format!("replicate-entry#{}", 2),
        format!("replicate-entry#{}", usr + 2),
        format!("replicate-entry#{}", usr + lib + 1),
        "pruned".to_string(),
        "unpack-entry:baseline#3".to_string(),
        "before-snapshot".to_string(),
    ];
    let mut guids: Vec<String> = Vec::new();
    let mut zones = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let zone = format!("b{i}");
        let zp = f.zonepath(&zone);
        let stopped = install_until(&f, &zone, &zp, &img, point, &[]);
        let out = stopped.stdout();
        assert!(
            out.contains("INFO: omicron: building template"),
            "{point}: {out}"
        );
        if i > 0 {
            assert!(
                out.contains("destroying unfinished template"),
                "{point}: the last one is destroyed: {out}"
            );
        }
        let t = templates(&f);
        assert_eq!(t.len(), 1, "{point}: {t:?}");
        let template = t[0].clone();
        assert!(
            !f.zfs.exists((&ready(&template)).into()).unwrap(),
            "{point}: no @ready while building"
        );
        let guid = get(&f, &template, "guid").unwrap();
        assert!(
            !guids.contains(&guid),
            "{point}: a new dataset, not the killed one"
        );
        guids.push(guid);
        // Poison the half-built template where it is mounted: if it were ever
        // cloned, a zone would show the file.
        if get(&f, &template, "mounted").as_deref() == Some("yes") {
            let mountpoint = get(&f, &template, "mountpoint").unwrap();
            std::fs::write(
                Path::new(&mountpoint).join(format!("poison-{i}")),
                b"half-built\n",
            )
            .unwrap();
        }
        stopped.kill();
        assert!(!f.installed(&zone), "{point}: no zone");
        assert!(
            exists(&f, &template),
            "{point}: the half-built template is left"
        );
        assert!(
            !f.zfs.exists((&ready(&template)).into()).unwrap(),
            "{point}: and has no @ready"
        );
        zones.push((zone, zp));
    }

    // Killed right after the snapshot: the template is complete, and used.
    let zp = f.zonepath("b-snap");
    let stopped = install_until(&f, "b-snap", &zp, &img, "after-snapshot", &[]);
    assert!(stopped.stdout().contains("destroying unfinished template"));
    let template = templates(&f).remove(0);
    assert!(
        f.zfs.exists((&ready(&template)).into()).unwrap(),
        "@ready exists at after-snapshot"
    );
    stopped.kill();
    let template_guid = get(&f, &template, "guid");
    let out = ok(&f, "b-snap", &zp, &img);
    assert!(
        out.contains("INFO: omicron: using template") && !out.contains("building template"),
        "{out}"
    );
    zones.push(("b-snap".to_string(), zp));

    // Every zone whose install was killed installs now, from that template,
    // with none of the poison written into the half-built ones.
    for (zone, zp) in &zones {
        if zone != "b-snap" {
            let out = ok(&f, zone, zp, &img);
            assert!(!out.contains("building template"), "{zone}: {out}");
        }
        let root_ds = f.root_dataset(zone);
        assert_eq!(
            get(&f, &root_ds, "origin"),
            Some(ready(&template).to_string()),
            "{zone}"
        );
        let root = zp.join("root");
        for i in 0..points.len() {
            assert!(
                !zp.join(format!("poison-{i}")).exists()
                    && !root.join(format!("poison-{i}")).exists(),
                "{zone}: poison-{i} from a killed build"
            );
        }
        assert_eq!(
            std::fs::read(root.join("etc/motd")).unwrap(),
            b"baseline motd\n",
            "{zone}"
        );
        assert_eq!(
            std::fs::read(root.join("opt/f1")).unwrap(),
            b"data\n",
            "{zone}"
        );
        assert!(
            root.join("sbin/init").symlink_metadata().is_ok(),
            "{zone}: sbin replicated"
        );
        assert!(!root.join("lib/svc/manifest").exists(), "{zone}: pruned");
    }
    assert_eq!(
        templates(&f),
        vec![template.clone()],
        "no half-built template is left"
    );
    assert_eq!(get(&f, &template, "guid"), template_guid);

    // An install waiting for a build that gets killed builds it anew (a new
    // boot, so that there is a template to build).
    let boot = [("OMICRON1_BOOT_ID", "boot-kill_build-2")];
    let zp = f.zonepath("w-builder");
    let builder = install_until(&f, "w-builder", &zp, &img, "unpack-entry:baseline#3", &boot);
    let second = templates(&f)
        .into_iter()
        .find(|t| *t != template)
        .expect("the second boot's template");
    let mountpoint = get(&f, &second, "mountpoint").unwrap();
    std::fs::write(Path::new(&mountpoint).join("poison-w"), b"half-built\n").unwrap();
    let wzp = f.zonepath("w-waiter");
    let (waiter, waiter_out, waiter_err) = spawn_install(&f, "w-waiter", &wzp, &img, &boot);
    let started = Instant::now();
    while !read(&waiter_out).contains("waiting for another install to finish building template") {
        assert!(
            started.elapsed() < DEADLINE,
            "the waiter never waits: {}{}",
            read(&waiter_out),
            read(&waiter_err)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    builder.kill();
    let code = wait_exit(waiter);
    let out = read(&waiter_out);
    assert_eq!(code, 0, "{out}{}", read(&waiter_err));
    assert!(
        out.contains("destroying unfinished template") && out.contains("building template"),
        "{out}"
    );
    assert!(
        !wzp.join("poison-w").exists(),
        "the waiter did not clone the killed build"
    );
    assert_eq!(
        std::fs::read(wzp.join("root/etc/motd")).unwrap(),
        b"baseline motd\n"
    );
    let origin = get(&f, &f.root_dataset("w-waiter"), "origin").unwrap();
    assert_eq!(origin, ready(&second).to_string());
    assert_ne!(get(&f, &second, "guid"), None);
    assert!(!f.installed("w-builder"));
}

/// Identity and size of the template: unchanged by any install.
fn template_state(f: &Fixture) -> Vec<Option<String>> {
    let t = templates(f);
    assert_eq!(t.len(), 1, "{t:?}");
    let snap = ready(&t[0]);
    let mut out = Vec::new();
    for p in ["guid", "referenced", "written"] {
        out.push(f.zfs.get_value((&snap).into(), p).unwrap());
        out.push(get(f, &t[0], p));
    }
    out
}

/// The zonepath dataset as zoneadm (or sled-agent) made it, with a local
/// property of its own to be kept.
fn zonepath_with_uuid(f: &Fixture, zone: &str) -> PathBuf {
    let zp = f.zonepath(zone);
    let ds = f.zonepath_dataset(zone);
    f.zfs
        .set((&ds).into(), &[("oxide:uuid", &format!("uuid-{zone}"))])
        .unwrap();
    zp
}

/// The zonepath dataset is back as it was before the install: no clone, not
/// a zone, its own property, mounted at the zonepath, mode 0700, empty.
fn assert_restored(f: &Fixture, zone: &str, zp: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt;
    let ds = f.zonepath_dataset(zone);
    assert!(exists(f, &ds), "{what}: {ds} is back");
    assert_eq!(get(f, &ds, "origin"), None, "{what}: not a clone");
    assert_eq!(get(f, &ds, "omicron1:kind"), None, "{what}: not a zone");
    assert_eq!(
        get(f, &ds, "oxide:uuid"),
        Some(format!("uuid-{zone}")),
        "{what}: its local property"
    );
    assert_eq!(get(f, &ds, "mounted").as_deref(), Some("yes"), "{what}");
    assert_eq!(
        f.zfs.dataset_mounted_at(zp).unwrap(),
        Some(ds.clone()),
        "{what}: at the zonepath"
    );
    let mode = std::fs::metadata(zp).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{what}");
    let entries: Vec<_> = std::fs::read_dir(zp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert!(entries.is_empty(), "{what}: empty: {entries:?}");
    assert!(
        !f.run_dir.join("swaps").join(zone).exists(),
        "{what}: no swap record is left"
    );
}

#[test]
fn an_install_killed_at_any_step_of_the_swap_is_recovered_by_uninstall_and_by_install() {
    let f = Fixture::new("kill_install");
    let img = image(&f, "app", 8);
    let zp = f.zonepath("warm");
    ok(&f, "warm", &zp, &img);
    let before = template_state(&f);
    let installed = Some("installed".to_string());

    // Each step of the swap, what the zonepath dataset is when the install
    // stops there (tar entries: oxide.json, then opt/f0.. — stopping before
    // entry 5 means f0-f2 are in).
    type Check = fn(&Fixture, &str, &Path);
    let points: [(&str, &str, Check); 5] = [
        ("bc", "before-clone", |f, zone, zp| {
            assert!(!f.installed(zone), "the empty dataset is still there");
            assert!(zp.is_dir());
        }),
        ("ad", "after-destroy", |f, zone, _| {
            assert!(!exists(f, &f.zonepath_dataset(zone)), "destroyed");
            assert!(
                f.run_dir.join("swaps").join(zone).is_file(),
                "what it was is recorded"
            );
        }),
        ("ac", "after-clone", |f, zone, zp| {
            assert!(f.installed(zone), "the clone is in its place");
            let ds = f.zonepath_dataset(zone);
            assert_eq!(get(f, &ds, "omicron1:state").as_deref(), Some("installing"));
            assert_eq!(get(f, &ds, "oxide:uuid"), Some(format!("uuid-{zone}")));
            assert!(!zp.join("root/opt").exists(), "nothing unpacked yet");
            assert!(zp.join("root/etc/motd").exists(), "the template's files");
        }),
        ("un", "unpack-entry:layer#5", |_, _, zp| {
            for i in 0..3 {
                assert!(zp.join(format!("root/opt/f{i}")).exists(), "f{i}");
            }
            assert!(!zp.join("root/opt/f3").exists());
        }),
        ("br", "before-record", |f, zone, zp| {
            assert!(zp.join("root/opt/f7").exists());
            let ds = f.zonepath_dataset(zone);
            assert_eq!(get(f, &ds, "omicron1:images"), None, "nothing recorded");
        }),
    ];
    for (short, point, while_stopped) in points {
        for recovery in ["uninstall", "install"] {
            let zone = format!("k-{short}-{recovery}");
            let zp = zonepath_with_uuid(&f, &zone);
            let what = format!("killed at {point}, then {recovery}");
            let s = install_until(&f, &zone, &zp, &img, point, &[]);
            while_stopped(&f, &zone, &zp);
            s.kill();
            if recovery == "uninstall" {
                // zoneadm leaves a killed install incomplete: uninstall -F.
                let out = f.hook(&zone, &zp, &["uninstall", "-F"]);
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{what}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                assert_restored(&f, &zone, &zp, &what);
            }
            ok(&f, &zone, &zp, &img);
            let ds = f.zonepath_dataset(&zone);
            assert!(f.installed(&zone), "{what}");
            assert_eq!(get(&f, &ds, "omicron1:state"), installed, "{what}");
            assert_eq!(get(&f, &ds, "omicron1:images").as_deref(), Some("1"));
            assert_eq!(
                get(&f, &ds, "oxide:uuid"),
                Some(format!("uuid-{zone}")),
                "{what}: the zone kept the zonepath dataset's property"
            );
            assert_eq!(std::fs::read(zp.join("root/opt/f7")).unwrap(), b"data\n");
            // And the zone uninstalls back to the empty dataset.
            let out = f.hook(&zone, &zp, &["uninstall", "-F"]);
            assert_eq!(out.status.code(), Some(0), "{what}");
            assert_restored(&f, &zone, &zp, &format!("{what}, uninstalled"));
        }
    }
    assert_eq!(template_state(&f), before, "the template is unchanged");
}
