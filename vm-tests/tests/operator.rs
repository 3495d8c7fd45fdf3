//! The operator's and the control plane's view on real ZFS (issue 12): `zone
//! list|show`, `template list -Hp`, `template build|gc --json`, `dataset
//! check|setup --json`, `doctor`, lock waits that name their holder, and a
//! bad baseline archive refused before any replication. Each JSON document is
//! parsed back and checked field by field against what ZFS holds.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use omicron1_vm_tests::fixture::{sha256_hex, Entry, Fixture, Layer};
use omicron1_zfs::Zfs;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

fn image(f: &Fixture, name: &str) -> PathBuf {
    let path = f.image_path(name);
    let mut l = Layer::layer(&path, name);
    l.entries(&[Entry::File("opt/app", b"app\n", 0o644)]);
    l.finish();
    path
}

fn admin(f: &Fixture, args: &[&str]) -> Output {
    let out = f.command().args(args).output().unwrap();
    eprintln!(
        "$ omicron1 {}\n{}{}exit {:?}",
        args.join(" "),
        text(&out.stdout),
        text(&out.stderr),
        out.status.code()
    );
    out
}

fn prop(f: &Fixture, ds: &str, name: &str) -> Option<String> {
    f.zfs
        .get_value(
            (&ds.parse::<omicron1_zfs::DatasetName>().unwrap()).into(),
            name,
        )
        .unwrap()
}

#[test]
fn zone_list_and_show_read_the_zones_back() {
    let f = Fixture::own_pool("op_zones");
    let pool = f.dataset.pool().to_string();
    let app = image(&f, "app");
    let extra = image(&f, "extra");
    let zp1 = f.zonepath("z1");
    ok(&f.hook("z1", &zp1, &["install", app.to_str().unwrap()]));
    let zp2 = f.zonepath("z2");
    ok(&f.hook(
        "z2",
        &zp2,
        &["install", app.to_str().unwrap(), extra.to_str().unwrap()],
    ));
    // z3 on another boot's template: stale from this boot's point of view.
    let zp3 = f.zonepath("z3");
    let out = f
        .command()
        .env("OMICRON1_BOOT_ID", "an-earlier-boot")
        .arg("-z")
        .arg("z3")
        .arg("-R")
        .arg(&zp3)
        .args(["install", app.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&out);
    // z2 looks like an install that died (zoneadm's incomplete).
    let z2 = f.root_dataset("z2");
    f.zfs
        .set((&z2).into(), &[("omicron1:state", "installing")])
        .unwrap();

    let out = admin(&f, &["zone", "list", "--pool", &pool, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let zones = json(&out);
    let zones = zones.as_array().unwrap();
    let names: Vec<&str> = zones.iter().map(|z| z["zone"].as_str().unwrap()).collect();
    assert_eq!(names, ["z1", "z2", "z3"]);
    let z1 = &zones[0];
    let ds1 = f.root_dataset("z1").to_string();
    assert_eq!(z1["dataset"], ds1);
    assert_eq!(z1["state"], "installed");
    assert_eq!(z1["template_state"], "current");
    let origin = prop(&f, &ds1, "origin").unwrap();
    assert_eq!(z1["origin"], origin);
    assert_eq!(z1["template"], origin.split('@').next().unwrap());
    assert_eq!(z1["created"], prop(&f, &ds1, "omicron1:created").unwrap());
    let used: u64 = prop(&f, &ds1, "used").unwrap().parse().unwrap();
    assert!(z1["used"].as_u64().unwrap() > 0);
    assert!(z1["used"].as_u64().unwrap() <= used * 2);
    assert_eq!(z1["mountpoint"], prop(&f, &ds1, "mountpoint").unwrap());
    assert!(
        z1["installer"]
            .as_str()
            .unwrap()
            .starts_with("0.1.0 (commit "),
        "{z1}"
    );
    let images = z1["images"].as_array().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0]["path"], app.to_str().unwrap());
    assert_eq!(images[0]["sha256"], sha256_hex(&app));
    assert_eq!(images[0]["pkg"], "app");
    assert_eq!(images[0]["version"], "1.0.0");
    let z2 = &zones[1];
    assert_eq!(z2["state"], "incomplete");
    let pkgs: Vec<&str> = z2["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pkg"].as_str().unwrap())
        .collect();
    assert_eq!(pkgs, ["app", "extra"], "in install order");
    assert_eq!(zones[2]["template_state"], "stale");

    // The table: one line per zone, sizes as zfs writes them.
    let out = admin(&f, &["zone", "list", "--pool", &pool]);
    let table = ok(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("ZONE"), "{table}");
    for (line, (zone, state, tpl)) in lines[1..].iter().zip([
        ("z1", "installed", "current"),
        ("z2", "incomplete", "current"),
        ("z3", "installed", "stale"),
    ]) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cols[..3], [zone, state, tpl], "{line}");
        assert!(
            cols[3].ends_with(['K', 'M', 'B']),
            "a zfs-style size: {line}"
        );
    }
    assert!(lines[2].ends_with("app@1.0.0,extra@1.0.0"), "{table}");

    // zone show: the same object, and the digests in the text.
    let out = admin(&f, &["zone", "show", "z1", "--json"]);
    assert_eq!(json(&out), *z1);
    let shown = ok(&admin(&f, &["zone", "show", "z1"]));
    assert!(shown.contains(&sha256_hex(&app)), "{shown}");
    assert!(shown.contains("state:      installed"), "{shown}");
    let out = admin(&f, &["zone", "show", "nosuch"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out.stderr).contains("zone nosuch has no dataset"));
}

#[test]
fn template_build_list_and_gc_print_their_json() {
    let f = Fixture::own_pool("op_templates");
    let pool = f.dataset.pool().to_string();
    let parent = f.dataset.child("zones").unwrap().to_string();
    let out = admin(
        &f,
        &[
            "template", "build", "--pool", &pool, "--parent", &parent, "--json",
        ],
    );
    let built = json(&out);
    let built = built.as_array().unwrap();
    assert_eq!(built.len(), 1);
    let dataset = built[0]["dataset"].as_str().unwrap();
    assert_eq!(built[0]["snapshot"], format!("{dataset}@ready"));
    assert!(f
        .zfs
        .exists((&dataset.parse::<omicron1_zfs::DatasetName>().unwrap()).into())
        .unwrap());
    assert_eq!(
        built[0]["encryption_root"].as_str(),
        prop(&f, dataset, "encryptionroot")
            .filter(|e| e != "-")
            .as_deref()
    );
    assert!(
        text(&out.stderr).contains("INFO: omicron: "),
        "progress moves to stderr with --json"
    );
    // A zone on this boot's template, then an earlier boot's template,
    // unused (a build collects the unused stale templates beside it, so
    // this one is built last): gc takes it and keeps the current one.
    let app = image(&f, "app");
    let zp = f.zonepath("tz1");
    ok(&f.hook("tz1", &zp, &["install", app.to_str().unwrap()]));
    let out = f
        .command()
        .env("OMICRON1_BOOT_ID", "an-earlier-boot")
        .args(["template", "build", "--pool", &pool, "--parent", &parent])
        .output()
        .unwrap();
    ok(&out);

    let out = admin(&f, &["template", "list", "--pool", &pool, "-H", "-p"]);
    let listing = ok(&out);
    let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{listing}");
    for fields in &lines {
        assert_eq!(fields.len(), 5, "{fields:?}");
        let referenced = prop(&f, fields[0], "referenced").unwrap();
        assert_eq!(fields[3], referenced, "-p: exact bytes");
        let clones = if fields[1] == "current" { "1" } else { "0" };
        assert_eq!(fields[4], clones, "{fields:?}");
    }
    let states: Vec<&str> = lines.iter().map(|f| f[1]).collect();
    assert!(
        states.contains(&"current") && states.contains(&"stale"),
        "{listing}"
    );
    let stale = lines.iter().find(|f| f[1] == "stale").unwrap()[0].to_string();

    let out = admin(
        &f,
        &["template", "gc", "--pool", &pool, "--dry-run", "--json"],
    );
    let report = json(&out);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["destroyed"], serde_json::json!([stale]));
    assert!(f
        .zfs
        .exists((&stale.parse::<omicron1_zfs::DatasetName>().unwrap()).into())
        .unwrap());
    let out = admin(&f, &["template", "gc", "--pool", &pool, "--json"]);
    let report = json(&out);
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["destroyed"], serde_json::json!([stale]));
    assert_eq!(report["kept"][0]["dataset"], dataset);
    assert_eq!(report["kept"][0]["reason"], "current");
    assert!(!f
        .zfs
        .exists((&stale.parse::<omicron1_zfs::DatasetName>().unwrap()).into())
        .unwrap());
    // Each destroyed template is named once.
    assert_eq!(
        text(&out.stderr).matches(&stale).count(),
        1,
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dataset_check_and_setup_print_their_json_and_exit_codes() {
    let f = Fixture::new("op_dataset");
    let zp = f.zonepath("dz");
    let ds = f.dataset.child("delegated").unwrap().child("dz").unwrap();
    f.write_zone_config("dz", &zp, &format!("<dataset name=\"{ds}\"/>"));
    let out = admin(
        &f,
        &["dataset", "setup", ds.as_str(), "--zone", "dz", "--json"],
    );
    let setup = json(&out);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(setup["dataset"], ds.as_str());
    assert_eq!(setup["zone"], "dz");
    assert_eq!(setup["changed"], true);
    assert!(setup["commands"][0]
        .as_str()
        .unwrap()
        .starts_with("zfs create"));
    assert_eq!(setup["zone_config"], "listed");
    assert_eq!(setup["zonecfg"], Value::Null);

    let out = admin(
        &f,
        &["dataset", "check", ds.as_str(), "--zone", "dz", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let check = json(&out);
    assert_eq!(check["result"], "ok");
    assert_eq!(check["zone"], "dz");
    assert_eq!(check["error"], Value::Null);
    let rules = check["rules"].as_array().unwrap();
    assert!(rules.len() >= 8, "{check}");
    assert!(
        rules
            .iter()
            .all(|r| r["status"] == "ok" && r["fix"].is_null()),
        "{check}"
    );

    f.zfs.set((&ds).into(), &[("zoned", "off")]).unwrap();
    let out = admin(
        &f,
        &["dataset", "check", ds.as_str(), "--zone", "dz", "--json"],
    );
    assert_eq!(out.status.code(), Some(254), "a broken rule");
    let check = json(&out);
    assert_eq!(check["result"], "broken");
    let zoned = rules_named(&check, "zoned");
    assert_eq!(zoned["status"], "fail");
    assert_eq!(zoned["severity"], "error");
    assert!(
        zoned["fix"].as_str().unwrap().contains("zoned=on"),
        "{zoned}"
    );
    assert!(text(&out.stderr).contains("omicron1: error: "));
}

fn rules_named<'a>(check: &'a Value, name: &str) -> &'a Value {
    check["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .unwrap_or_else(|| panic!("no rule {name}: {check}"))
}

#[test]
fn doctor_checks_a_real_host() {
    let f = Fixture::own_pool("op_doctor");
    let pool = f.dataset.pool().to_string();
    let app = image(&f, "app");
    let zp = f.zonepath("dz1");
    ok(&f.hook("dz1", &zp, &["install", app.to_str().unwrap()]));
    let out = admin(&f, &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = json(&out);
    assert_eq!(report["ok"], true);
    let checks = report["checks"].as_array().unwrap();
    let find = |report: &Value, name: &str| -> Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no check {name}: {report}"))
    };
    for name in [
        "zpool",
        "zfs",
        "baseline",
        "gzonly",
        "run folder",
        "source trees",
    ] {
        assert_eq!(find(&report, name)["status"], "ok", "{name}: {report}");
    }
    let templates = find(&report, &format!("templates on {pool}"));
    assert!(
        templates["detail"]
            .as_str()
            .unwrap()
            .contains("this boot's"),
        "{templates}"
    );
    assert!(checks.iter().all(|c| c["status"] != "fail"));

    // A zone left incomplete is a warning with the fix; a missing baseline fails.
    f.zfs
        .set(
            (&f.root_dataset("dz1")).into(),
            &[("omicron1:state", "installing")],
        )
        .unwrap();
    std::fs::rename(
        f.baseline_dir.join("files.tar.gz"),
        f.dir.join("files.tar.gz.away"),
    )
    .unwrap();
    let out = admin(&f, &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(254));
    let report = json(&out);
    assert_eq!(report["ok"], false);
    assert_eq!(find(&report, "baseline")["status"], "fail");
    let incomplete = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "warn" && c["check"] == format!("zones on {pool}"))
        .cloned()
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        incomplete["fix"],
        "zoneadm -z dz1 uninstall -F, then install it again"
    );
}

/// A builder stopped with `OMICRON1_STOP_AT` holds the template's lock.
#[allow(clippy::zombie_processes)] // reaped by pid below
fn stopped_builder(f: &Fixture, zone: &str, zp: &Path, image: &Path) -> Pid {
    let child = f
        .command()
        .env("OMICRON1_STOP_AT", "before-snapshot")
        .arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zp)
        .arg("install")
        .arg(image)
        .stdin(Stdio::null())
        .stdout(File::create(f.dir.join("builder.out")).unwrap())
        .stderr(File::create(f.dir.join("builder.err")).unwrap())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let started = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WUNTRACED | WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::Stopped(_, Signal::SIGSTOP) => return pid,
            WaitStatus::StillAlive if started.elapsed() < Duration::from_secs(600) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => {
                let _ = kill(pid, Signal::SIGKILL);
                panic!("the builder did not stop: {other:?}");
            }
        }
    }
}

#[test]
fn a_lock_wait_names_the_holder_reports_and_times_out() {
    let f = Fixture::new("op_lock");
    let app = image(&f, "app");
    let zp1 = f.zonepath("lk1");
    let holder = stopped_builder(&f, "lk1", &zp1, &app);
    let zp2 = f.zonepath("lk2");
    let started = Instant::now();
    let out = f
        .command()
        .env("OMICRON1_LOCK_TIMEOUT", "12")
        .arg("-z")
        .arg("lk2")
        .arg("-R")
        .arg(&zp2)
        .args(["install", app.to_str().unwrap()])
        .output()
        .unwrap();
    let waited = started.elapsed();
    kill(holder, Signal::SIGKILL).unwrap();
    waitpid(holder, None).unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    eprintln!("{stdout}{stderr}");
    assert_eq!(
        out.status.code(),
        Some(254),
        "a timeout fails and leaves nothing"
    );
    assert!(waited >= Duration::from_secs(12) && waited < Duration::from_secs(120));
    let pid = format!("pid {holder}");
    assert!(
        stdout.contains(&format!("(lock held by {pid})")),
        "the first line names the holder: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "still waiting for the lock held by {pid}: 10 s so far"
        )),
        "a line every 10 s: {stdout}"
    );
    assert!(
        stderr.contains(&pid) && stderr.contains("OMICRON1_LOCK_TIMEOUT"),
        "{stderr}"
    );
    assert!(!f.installed_any("lk2"), "nothing left behind");
}

#[test]
fn a_bad_baseline_archive_is_refused_before_replication() {
    let f = Fixture::new("op_baseline");
    let layer = image(&f, "notabaseline");
    std::fs::copy(&layer, f.baseline_dir.join("files.tar.gz")).unwrap();
    let app = image(&f, "app");
    let zp = f.zonepath("bb");
    let started = Instant::now();
    let out = f.hook("bb", &zp, &["install", app.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(254));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        stderr.contains("baseline archive") && stderr.contains("files.tar.gz"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("replicating"),
        "nothing replicated: {stdout}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    // No template dataset is left.
    let rows = f
        .zfs
        .list(
            &f.dataset,
            omicron1_zfs::ListKind::Filesystems,
            omicron1_zfs::Depth::Recursive,
            &[],
        )
        .unwrap();
    assert!(
        rows.iter()
            .all(|r| !r.name.to_string().contains("omicron1-templates/")),
        "{rows:?}"
    );
}

/// Fixture helpers that hold for either zone layout.
trait Installed {
    /// Whether zone `name` has a dataset made by the installer.
    fn installed_any(&self, name: &str) -> bool;
}

impl Installed for Fixture {
    fn installed_any(&self, name: &str) -> bool {
        let ds = self.root_dataset(name);
        matches!(
            self.zfs.get_value((&ds).into(), "omicron1:kind"),
            Ok(Some(kind)) if kind == "zone-root"
        )
    }
}
