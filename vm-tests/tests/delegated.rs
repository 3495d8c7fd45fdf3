//! Delegated datasets for `/data` on real OpenZFS: `dataset check` finds each
//! broken rule and names the fix; `dataset setup` creates a dataset or fixes
//! one in place, keeping its data and never mounting it in the global zone;
//! setup refuses what it cannot make right; install and `verify_cfg` refuse a
//! zone whose datasets would make it fail to boot or share data.

use std::collections::HashSet;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_vm_tests::trace::{traced, Mount, Trace};
use omicron1_zfs::{DatasetName, PropertySource, Zfs};

/// Runs `zfs ARGS` directly (to break datasets on purpose), which must succeed.
fn zfs(args: &[&str]) {
    let out = Command::new("/usr/sbin/zfs").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "zfs {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the installer with the fixture's settings and shows what it printed.
fn omicron1(f: &Fixture, args: &[&str]) -> Output {
    let out = f.command().args(args).output().unwrap();
    eprintln!(
        "$ omicron1 {}\n{}{}exit {:?}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code()
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(o));
    stdout(o)
}

fn value(f: &Fixture, ds: &DatasetName, prop: &str) -> String {
    f.zfs
        .get_value(ds.into(), prop)
        .unwrap()
        .unwrap_or_default()
}

fn mounted(f: &Fixture, ds: &DatasetName) -> bool {
    value(f, ds, "mounted") == "yes"
}

fn exists(f: &Fixture, ds: &DatasetName) -> bool {
    f.zfs.exists(ds.into()).unwrap()
}

/// The dataset keeps every property rule: zoned=on, mountpoint=/data set
/// locally, canmount=on, and it is not mounted.
fn assert_set_up(f: &Fixture, ds: &DatasetName) {
    let p = f
        .zfs
        .get(ds.into(), &["zoned", "mountpoint", "canmount", "mounted"])
        .unwrap();
    assert_eq!(p["zoned"].value.as_deref(), Some("on"), "{ds}");
    assert_eq!(p["mountpoint"].value.as_deref(), Some("/data"), "{ds}");
    assert_eq!(p["mountpoint"].source, PropertySource::Local, "{ds}");
    assert_eq!(p["canmount"].value.as_deref(), Some("on"), "{ds}");
    assert_eq!(p["mounted"].value.as_deref(), Some("no"), "{ds}");
}

/// A line of `dataset check`'s report: `TAG RULE: TEXT`, which must contain `fragment`.
fn report_line(out: &str, tag: &str, rule: &str, fragment: &str) -> String {
    let prefix = format!("{tag:<4} {rule}: ");
    let line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {tag} {rule} line in:\n{out}"));
    assert!(line.contains(fragment), "{line:?} lacks {fragment:?}");
    line.to_string()
}

/// Watches the global zone's mount table in the background for datasets. It
/// counts mounts that begin after it started: a dataset mounted already (that
/// setup must unmount first) is not counted, mounting it again would be.
///
/// This is the view from outside, of every process's mounts, but by polling:
/// a mount shorter than the 2 ms interval can come and go between two reads.
/// The proof that setup mounts nothing is its trace ([`setup_traced`]), which
/// sees every mount system call of setup and the `zfs` processes it starts.
struct MountWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

fn mounted_now(names: &[String]) -> HashSet<String> {
    let table = std::fs::read_to_string("/proc/self/mounts").unwrap();
    table
        .lines()
        .filter_map(|line| line.split(' ').next())
        .filter(|source| names.iter().any(|n| n == source))
        .map(str::to_string)
        .collect()
}

impl MountWatch {
    fn start(datasets: &[&DatasetName]) -> MountWatch {
        let names: Vec<String> = datasets.iter().map(|d| d.to_string()).collect();
        // The baseline is read before the caller starts anything.
        let mut before = mounted_now(&names);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut new_mounts = 0;
            loop {
                let last = flag.load(Ordering::Relaxed);
                let now = mounted_now(&names);
                for n in now.difference(&before) {
                    eprintln!("mount seen: {n}");
                    new_mounts += 1;
                }
                before = now;
                if last {
                    return new_mounts;
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        MountWatch { stop, thread }
    }

    /// How many times a watched dataset was newly mounted.
    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Runs `dataset setup ARGS` under `strace -f` (`omicron1_vm_tests::trace`):
/// every mount system call of the installer and of each `zfs` process it
/// starts is recorded, however briefly a mount lasts.
fn setup_traced(f: &Fixture, args: &[&str], label: &str) -> (Output, Trace) {
    let mut cmd = f.command();
    cmd.args(["dataset", "setup"]).args(args);
    let (out, trace) = traced(&cmd, &f.dir, label);
    eprintln!(
        "$ omicron1 dataset setup {} (traced)\n{}{}exit {:?}\nmount calls: {:?}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code(),
        trace.mounts
    );
    (out, trace)
}

/// The trace shows no mount of any of `datasets`, and no mount it cannot
/// attribute to a dataset.
fn assert_never_mounted(trace: &Trace, datasets: &[&DatasetName], what: &str) {
    for ds in datasets {
        assert_eq!(
            trace.mounts_of(ds.as_str()),
            Vec::<&Mount>::new(),
            "{what}: {ds} was mounted"
        );
    }
    assert_eq!(
        trace.unattributed_mounts(),
        Vec::<&Mount>::new(),
        "{what}: a mount the trace cannot attribute"
    );
}

/// Reads a file of a set-up (zoned) dataset by making it an ordinary dataset
/// again, mounted at a folder of the test's own (the global zone cannot mount
/// a zoned dataset).
fn read_inside(f: &Fixture, ds: &DatasetName, file: &str) -> Vec<u8> {
    let look = f.dir.join(format!("look-{}", ds.basename()));
    let name = ds.as_str();
    zfs(&["set", "canmount=noauto", name]);
    zfs(&["set", "zoned=off", name]);
    zfs(&["set", &format!("mountpoint={}", look.display()), name]);
    zfs(&["mount", name]);
    let content = std::fs::read(look.join(file)).unwrap_or_else(|e| panic!("{name}: {file}: {e}"));
    zfs(&["unmount", name]);
    content
}

fn xml_dataset(ds: &DatasetName) -> String {
    format!("<dataset name=\"{ds}\"/>")
}

#[test]
fn check_finds_each_broken_rule_and_names_its_fix() {
    let f = Fixture::new("ds_check");
    let zp = f.zonepath("z1");
    let zpds = f.zonepath_dataset("z1");
    let base = f.dataset.child("d").unwrap();
    zfs(&["create", "-o", "canmount=off", base.as_str()]);
    let ds = |name: &str| base.child(name).unwrap();
    // Check `d` as zone z1's only dataset.
    let check = |d: &DatasetName| {
        f.write_zone_config("z1", &zp, &xml_dataset(d));
        omicron1(&f, &["dataset", "check", d.as_str(), "--zone", "z1"])
    };
    let fails = |d: &DatasetName, tag: &str, rule: &str, fragment: &str, fix: &str| {
        let out = check(d);
        assert_eq!(out.status.code(), Some(254), "{d}: {}", stderr(&out));
        let line = report_line(&stdout(&out), tag, rule, fragment);
        assert!(
            line.contains(&format!("; fix: {fix}")),
            "{line:?} lacks the fix {fix:?}"
        );
        assert!(
            stderr(&out).contains(&format!("{d} breaks")),
            "{}",
            stderr(&out)
        );
        stdout(&out)
    };

    // The man page's recipe, followed to the letter, keeps every rule.
    let recipe = ds("recipe");
    zfs(&["create", "-o", "canmount=noauto", recipe.as_str()]);
    zfs(&["set", "mountpoint=/data", recipe.as_str()]);
    zfs(&["set", "zoned=on", recipe.as_str()]);
    zfs(&["set", "canmount=on", recipe.as_str()]);
    let out = ok(&check(&recipe));
    for rule in [
        "exists",
        "filesystem",
        "not-mounted",
        "mountpoint",
        "zoned",
        "canmount",
        "zonepath",
        "one-zone",
        "zone-config",
    ] {
        report_line(&out, "ok", rule, "");
    }
    assert!(
        out.contains(&format!("OK: {recipe} keeps all 9 rules checked")),
        "{out}"
    );

    // Missing.
    let missing = ds("missing");
    fails(
        &missing,
        "FAIL",
        "exists",
        "does not exist",
        &format!("zfs create -p -o zoned=on -o mountpoint=/data -o canmount=on {missing}"),
    );
    // A volume.
    let vol = ds("vol");
    zfs(&["create", "-V", "16M", vol.as_str()]);
    fails(
        &vol,
        "FAIL",
        "filesystem",
        "is a volume, not a filesystem",
        &format!("zfs rename {vol} {vol}-volume && "),
    );
    // zoned=off (mountpoint right, not mounted: canmount=noauto).
    let unzoned = ds("unzoned");
    zfs(&[
        "create",
        "-o",
        "mountpoint=/data",
        "-o",
        "canmount=noauto",
        unzoned.as_str(),
    ]);
    let out = fails(
        &unzoned,
        "FAIL",
        "zoned",
        "is off (default), must be on",
        &format!("zfs set zoned=on {unzoned}"),
    );
    report_line(&out, "WARN", "canmount", "is noauto (local), should be on");
    report_line(&out, "ok", "mountpoint", "/data (local)");
    // The mountpoint inherited: zoneadm's "mountpoint cannot be inherited".
    let inherited = ds("inherited");
    zfs(&["create", "-o", "zoned=on", inherited.as_str()]);
    let mp = f.mountpoint.join("d/inherited");
    fails(&inherited, "FAIL", "mountpoint",
        &format!("is {} (inherited from {}), must be /data set locally", mp.display(), f.dataset.pool()),
        &format!("zfs set canmount=noauto {inherited} && zfs set zoned=off {inherited} && zfs set mountpoint=/data {inherited} && zfs set zoned=on {inherited} && zfs set canmount=on {inherited}"));
    // canmount=noauto alone is a warning, still a failed rule for check.
    let noauto = ds("noauto");
    zfs(&[
        "create",
        "-o",
        "zoned=on",
        "-o",
        "mountpoint=/data",
        "-o",
        "canmount=noauto",
        noauto.as_str(),
    ]);
    let out = fails(
        &noauto,
        "WARN",
        "canmount",
        "is noauto (local)",
        &format!("zfs set canmount=on {noauto}"),
    );
    assert!(
        !out.contains("FAIL"),
        "canmount is the only broken rule:\n{out}"
    );
    // Mounted in the global zone (an ordinary dataset: all the man page's mistakes at once).
    let plain = ds("plain");
    zfs(&["create", plain.as_str()]);
    let out = fails(
        &plain,
        "FAIL",
        "not-mounted",
        &format!(
            "is mounted in the global zone at {}",
            f.mountpoint.join("d/plain").display()
        ),
        &format!("zfs unmount {plain}"),
    );
    report_line(&out, "FAIL", "zoned", "is off");
    report_line(&out, "FAIL", "mountpoint", "inherited from");
    assert!(stderr(&check(&plain)).contains(&format!(
        "`omicron1 dataset setup {plain} --zone z1` fixes them"
    )));

    // The zonepath's dataset, one inside it, one above it.
    let inside = zpds.child("data").unwrap();
    zfs(&[
        "create",
        "-o",
        "zoned=on",
        "-o",
        "mountpoint=/data",
        inside.as_str(),
    ]);
    let zones = f.dataset.child("zones").unwrap();
    for (d, fragment) in [
        (
            &zpds,
            format!(
                "is zone z1's zonepath dataset (mounted at {})",
                zp.display()
            ),
        ),
        (
            &inside,
            format!("is inside zone z1's zonepath dataset {zpds}"),
        ),
        (
            &zones,
            format!("is above zone z1's zonepath dataset {zpds}"),
        ),
    ] {
        fails(
            d,
            "FAIL",
            "zonepath",
            &fragment,
            &format!("zonecfg -z z1 'remove dataset name={d}; commit', then"),
        );
    }

    // Delegated to another zone too, and inside another zone's dataset.
    let zp2 = f.zonepath("z2");
    f.write_zone_config("z2", &zp2, &xml_dataset(&recipe));
    fails(
        &recipe,
        "FAIL",
        "one-zone",
        "is also delegated to zone z2",
        &format!("zonecfg -z z2 'remove dataset name={recipe}; commit'"),
    );
    f.write_zone_config("z2", &zp2, &xml_dataset(&base));
    fails(
        &recipe,
        "FAIL",
        "one-zone",
        &format!("is inside {base}, delegated to zone z2"),
        &format!("zonecfg -z z2 'remove dataset name={base}; commit'"),
    );
    // A broken configuration of another zone is reported, not fatal.
    f.write_zone_config("z2", &zp2, "");
    std::fs::write(f.zones_dir.join("z3.xml"), "<zone name='z3'").unwrap();
    let out = check(&recipe);
    ok(&out);
    assert!(
        stderr(&out).contains("z3.xml") && stderr(&out).contains("warning"),
        "{}",
        stderr(&out)
    );

    // Not in the zone's configuration.
    f.write_zone_config("z1", &zp, "");
    let out = omicron1(&f, &["dataset", "check", recipe.as_str(), "--zone", "z1"]);
    assert_eq!(out.status.code(), Some(254));
    let line = report_line(
        &stdout(&out),
        "FAIL",
        "zone-config",
        "zone z1's configuration does not list it",
    );
    assert!(
        line.ends_with(&format!(
            "fix: zonecfg -z z1 'add dataset; set name={recipe}; end; commit'"
        )),
        "{line}"
    );
    // Without --zone, and delegated nowhere: the zonepath rule cannot be checked, the others pass.
    let out = ok(&omicron1(&f, &["dataset", "check", recipe.as_str()]));
    report_line(&out, "--", "zonepath", "no zone given");
    // Bad arguments are usage errors.
    assert_eq!(
        omicron1(&f, &["dataset", "check", "tp/a@b"]).status.code(),
        Some(253)
    );
    assert_eq!(
        omicron1(&f, &["dataset", "check", recipe.as_str(), "--zone", "../z"])
            .status
            .code(),
        Some(253)
    );
}

#[test]
fn setup_creates_a_dataset_and_its_parents_without_mounting_them() {
    let f = Fixture::new("ds_create");
    let zp = f.zonepath("z1");
    let ds = f
        .dataset
        .child("delegated")
        .unwrap()
        .child("a")
        .unwrap()
        .child("z1")
        .unwrap();
    let parents = [ds.parent().unwrap().parent().unwrap(), ds.parent().unwrap()];
    f.write_zone_config("z1", &zp, &xml_dataset(&ds));
    // The trace sees a ZFS mount on this system: `zfs create` of an ordinary
    // dataset mounts it (a check of the check).
    let control = f.dataset.child("mount-control").unwrap();
    let mut create = Command::new("/usr/sbin/zfs");
    create.args(["create", control.as_str()]);
    let (created, control_trace) = traced(&create, &f.dir, "control");
    assert!(created.status.success(), "{created:?}");
    assert_eq!(
        control_trace.mounts_of(control.as_str()).len(),
        1,
        "the trace sees zfs create mount a dataset: {:?}",
        control_trace.mounts
    );

    let watch = MountWatch::start(&[&ds, &parents[0], &parents[1]]);
    let (out, trace) = setup_traced(&f, &[ds.as_str(), "--zone", "z1"], "create");
    let out = ok(&out);
    assert_eq!(watch.finish(), 0, "no mount seen in the mount table");
    assert_never_mounted(
        &trace,
        &[&ds, &parents[0], &parents[1]],
        "nothing setup made was ever mounted",
    );
    assert!(
        trace.zfs_processes().contains(&"zfs create".to_string()),
        "the trace covers the zfs processes: {:?}",
        trace.zfs_processes()
    );
    for p in &parents {
        assert!(
            out.contains(&format!("INFO: omicron: zfs create -o canmount=off {p}\n")),
            "{out}"
        );
        assert_eq!(value(&f, p, "canmount"), "off");
        assert!(!mounted(&f, p), "{p}");
    }
    // One create, with every property: never mounted, by construction.
    assert!(
        out.contains(&format!(
            "INFO: omicron: zfs create -o zoned=on -o mountpoint=/data -o canmount=on {ds}\n"
        )),
        "{out}"
    );
    assert!(
        !out.contains("zfs set"),
        "nothing to fix after the create:\n{out}"
    );
    assert!(out.contains(&format!("zone z1 delegates {ds}")), "{out}");
    assert_set_up(&f, &ds);
    ok(&omicron1(
        &f,
        &["dataset", "check", ds.as_str(), "--zone", "z1"],
    ));

    // Idempotent.
    let again = ok(&omicron1(
        &f,
        &["dataset", "setup", ds.as_str(), "--zone", "z1"],
    ));
    assert!(
        again.contains("is already set up") && again.contains("nothing changed"),
        "{again}"
    );
    assert!(!again.contains("zfs "), "no command ran:\n{again}");
    assert_set_up(&f, &ds);

    // A zone that does not list it yet: the zonecfg line is printed; --apply
    // without zonecfg (Linux) says so and leaves the dataset as it is.
    f.write_zone_config("z1", &zp, "");
    let out = ok(&omicron1(
        &f,
        &["dataset", "setup", ds.as_str(), "--zone", "z1"],
    ));
    assert!(
        out.contains(&format!(
            "zonecfg -z z1 'add dataset; set name={ds}; end; commit'"
        )),
        "{out}"
    );
    let out = omicron1(
        &f,
        &["dataset", "setup", ds.as_str(), "--zone", "z1", "--apply"],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("no /usr/sbin/zonecfg"),
        "{}",
        stderr(&out)
    );
    assert_set_up(&f, &ds);
}

#[test]
fn setup_fixes_each_broken_state_in_place_and_keeps_the_data() {
    let f = Fixture::new("ds_fix");
    let zp = f.zonepath("z1");
    let base = f.dataset.child("d").unwrap();
    zfs(&["create", base.as_str()]);
    // Each state starts as an ordinary mounted dataset holding a file, then is
    // broken the way users break it.
    // (canmount alone and other mountpoints are unit-tested against the fake.)
    let cases: [(&str, &[&[&str]]); 4] = [
        // Created and left as is: mounted, zoned off, mountpoint inherited.
        ("plain", &[]),
        // zoned=on, but the mountpoint inherited.
        ("zoned", &[&["unmount"], &["set", "zoned=on"]]),
        // mountpoint=/data, zoned off and noauto (half of the man page's recipe).
        (
            "half",
            &[
                &["unmount"],
                &["set", "canmount=noauto"],
                &["set", "mountpoint=/data"],
            ],
        ),
        // A legacy mountpoint: changing it with canmount=on would mount it.
        ("legacy", &[&["set", "mountpoint=legacy"]]),
    ];
    let mut config = String::new();
    for (name, _) in &cases {
        config.push_str(&xml_dataset(&base.child(name).unwrap()));
    }
    f.write_zone_config("z1", &zp, &config);
    for (name, breaks) in cases {
        let ds = base.child(name).unwrap();
        zfs(&["create", ds.as_str()]);
        std::fs::write(
            f.mountpoint.join("d").join(name).join("kept"),
            format!("data of {name}\n"),
        )
        .unwrap();
        for args in breaks {
            let mut argv: Vec<&str> = args.to_vec();
            argv.push(ds.as_str());
            zfs(&argv);
        }
        let check = omicron1(&f, &["dataset", "check", ds.as_str(), "--zone", "z1"]);
        assert_eq!(check.status.code(), Some(254), "{name} is broken");

        let watch = MountWatch::start(&[&ds]);
        let (out, trace) = setup_traced(&f, &[ds.as_str(), "--zone", "z1"], name);
        let out = ok(&out);
        assert_eq!(
            watch.finish(),
            0,
            "{name}: no new mount seen in the mount table"
        );
        assert_never_mounted(
            &trace,
            &[&ds],
            &format!("{name}: never mounted again once setup began"),
        );
        assert!(
            trace.zfs_processes().contains(&"zfs set".to_string()),
            "{name}: the trace covers the zfs processes: {:?}",
            trace.zfs_processes()
        );
        assert!(out.contains(&format!("{ds} is set up")), "{name}: {out}");
        assert_set_up(&f, &ds);

        let again = ok(&omicron1(
            &f,
            &["dataset", "setup", ds.as_str(), "--zone", "z1"],
        ));
        assert!(
            again.contains("nothing changed") && !again.contains("zfs set"),
            "{name}: {again}"
        );

        assert_eq!(
            read_inside(&f, &ds, "kept"),
            format!("data of {name}\n").as_bytes(),
            "{name}: data kept"
        );
    }
}

#[test]
fn setup_refuses_a_busy_dataset_and_changes_nothing() {
    let f = Fixture::new("ds_busy");
    let zp = f.zonepath("z1");
    let ds = f.dataset.child("busy").unwrap();
    zfs(&["create", ds.as_str()]);
    f.write_zone_config("z1", &zp, &xml_dataset(&ds));
    let file = f.mountpoint.join("busy/held");
    std::fs::write(&file, b"in use").unwrap();
    let held = std::fs::File::open(&file).unwrap();
    let out = omicron1(&f, &["dataset", "setup", ds.as_str(), "--zone", "z1"]);
    assert_eq!(out.status.code(), Some(254));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot unmount {ds}")) && err.contains("is busy"),
        "{err}"
    );
    assert!(
        err.contains("Is it in use?") && err.contains("fuser -c"),
        "{err}"
    );
    assert!(err.contains("Nothing was changed"), "{err}");
    assert!(mounted(&f, &ds), "still mounted");
    assert_eq!(value(&f, &ds, "zoned"), "off");
    assert_eq!(value(&f, &ds, "canmount"), "on");
    drop(held);
    ok(&omicron1(
        &f,
        &["dataset", "setup", ds.as_str(), "--zone", "z1"],
    ));
    assert_set_up(&f, &ds);
}

#[test]
fn setup_refuses_shared_zonepath_and_volume_datasets() {
    let f = Fixture::new("ds_refuse");
    let zp1 = f.zonepath("z1");
    let zp2 = f.zonepath("z2");
    let shared = f.dataset.child("shared").unwrap();
    f.write_zone_config("z1", &zp1, &xml_dataset(&shared));
    f.write_zone_config("z2", &zp2, &xml_dataset(&shared));
    let out = omicron1(&f, &["dataset", "setup", shared.as_str(), "--zone", "z1"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("is also delegated to zone z2"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("nothing was changed"));
    assert!(!exists(&f, &shared), "not created");
    // Without --zone too: two zones name it.
    let out = omicron1(&f, &["dataset", "setup", shared.as_str()]);
    assert_eq!(out.status.code(), Some(254));
    assert!(!exists(&f, &shared));

    // Inside the zonepath's dataset (uninstall would destroy it), and the zonepath's dataset itself.
    let zpds = f.zonepath_dataset("z1");
    let inside = zpds.child("data").unwrap();
    let out = omicron1(&f, &["dataset", "setup", inside.as_str(), "--zone", "z1"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains(&format!("is inside zone z1's zonepath dataset {zpds}")),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&f, &inside));
    let out = omicron1(&f, &["dataset", "setup", zpds.as_str(), "--zone", "z1"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("is zone z1's zonepath dataset"),
        "{}",
        stderr(&out)
    );
    assert!(
        mounted(&f, &zpds) && value(&f, &zpds, "zoned") == "off",
        "the zonepath is untouched"
    );

    // A volume.
    let vol = f.dataset.child("vol").unwrap();
    zfs(&["create", "-V", "16M", vol.as_str()]);
    let out = omicron1(&f, &["dataset", "setup", vol.as_str(), "--zone", "z1"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(stderr(&out).contains("is a volume"), "{}", stderr(&out));
}

#[test]
fn install_and_verify_cfg_refuse_a_bad_dataset_then_accept_it_after_setup() {
    let f = Fixture::new("ds_install");
    let image = f.image_path("app");
    {
        let mut l = Layer::layer(&image, "app");
        l.entries(&[Entry::File("opt/app", b"app\n", 0o644)]);
        l.finish();
    }
    let img = image.to_str().unwrap();
    let zp = f.zonepath("z1");
    let ds = f.dataset.child("delegated").unwrap().child("z1").unwrap();
    // The usual mistake: created as an ordinary dataset.
    zfs(&["create", "-p", ds.as_str()]);
    f.write_zone_config("z1", &zp, &xml_dataset(&ds));
    let xml = f.dir.join("z1-verify.xml");
    std::fs::copy(f.zones_dir.join("z1.xml"), &xml).unwrap();
    let verify = || omicron1(&f, &["verify_cfg", xml.to_str().unwrap()]);

    let out = f.hook("z1", &zp, &["install", img]);
    assert_eq!(out.status.code(), Some(254));
    let err = stderr(&out);
    for rule in ["not-mounted", "mountpoint", "zoned"] {
        assert!(
            err.contains(&format!("delegated dataset {ds} of zone z1: {rule}: ")),
            "{rule}: {err}"
        );
    }
    assert!(err.contains(&format!("fix: zfs unmount {ds}")), "{err}");
    assert!(!exists(&f, &f.root_dataset("z1")), "no zone root");
    assert!(
        !exists(&f, &f.templates()),
        "nothing made: the check runs first"
    );
    let out = verify();
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains(&format!("delegated dataset {ds} of zone z1: zoned: is off")),
        "{}",
        stderr(&out)
    );

    ok(&omicron1(
        &f,
        &["dataset", "setup", ds.as_str(), "--zone", "z1"],
    ));
    ok(&verify());
    let out = ok(&f.hook("z1", &zp, &["install", img]));
    assert!(
        out.contains(&format!("checking delegated datasets: {ds}")),
        "{out}"
    );
    assert!(exists(&f, &f.root_dataset("z1")));
    assert_set_up(&f, &ds);

    // A cosmetic rule only warns (install shares this check with verify_cfg).
    zfs(&["set", "canmount=noauto", ds.as_str()]);
    let out = verify();
    ok(&out);
    assert!(
        stderr(&out).contains("warning") && stderr(&out).contains("canmount: is noauto"),
        "{}",
        stderr(&out)
    );
    zfs(&["set", "canmount=on", ds.as_str()]);

    // Delegated to a second zone: both refuse.
    let zp2 = f.zonepath("z2");
    f.write_zone_config("z2", &zp2, &xml_dataset(&ds));
    let out = f.hook("z2", &zp2, &["install", img]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("one-zone: is also delegated to zone z1"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&f, &f.root_dataset("z2")));
    let out = verify();
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("is also delegated to zone z2"),
        "{}",
        stderr(&out)
    );

    // A dataset inside the zone's own zonepath dataset.
    std::fs::remove_file(f.zones_dir.join("z2.xml")).unwrap();
    let zp3 = f.zonepath("z3");
    let inside = f.zonepath_dataset("z3").child("data").unwrap();
    zfs(&[
        "create",
        "-o",
        "zoned=on",
        "-o",
        "mountpoint=/data",
        inside.as_str(),
    ]);
    f.write_zone_config("z3", &zp3, &xml_dataset(&inside));
    let out = f.hook("z3", &zp3, &["install", img]);
    assert_eq!(out.status.code(), Some(254));
    assert!(
        stderr(&out).contains("zonepath: is inside zone z3's zonepath dataset"),
        "{}",
        stderr(&out)
    );
    assert!(!exists(&f, &f.root_dataset("z3")));
}
