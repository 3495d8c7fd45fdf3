//! Template lifecycle on real ZFS: once per boot and baseline, concurrent- and
//! crash-safe, per pool, listed, collected.

use std::path::Path;
use std::process::{Output, Stdio};

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_vm_tests::stop::{run_until, spawn};
use omicron1_zfs::Zfs;

fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn image(f: &Fixture) -> String {
    let path = f.image_path("app");
    let mut l = Layer::layer(&path, "app");
    l.entries(&[Entry::File("opt/app", b"app\n", 0o644)]);
    l.finish();
    path.to_str().unwrap().to_string()
}

/// `template list --json` of the fixture's pool (each test here has its own).
fn list_json(f: &Fixture, boot: &str) -> Vec<serde_json::Value> {
    let out = f
        .command()
        .env("OMICRON1_BOOT_ID", boot)
        .args([
            "template",
            "list",
            "--pool",
            f.dataset.pool().as_str(),
            "--json",
        ])
        .output()
        .unwrap();
    let text = ok(&out);
    serde_json::from_str(&text).expect("list --json is valid JSON")
}

fn install_with_boot(f: &Fixture, boot: &str, zone: &str, zp: &Path, img: &str) -> String {
    let out = f
        .command()
        .env("OMICRON1_BOOT_ID", boot)
        .arg("-z")
        .arg(zone)
        .arg("-R")
        .arg(zp)
        .args(["install", img])
        .output()
        .unwrap();
    ok(&out)
}

#[test]
fn a_new_boot_gets_a_new_template_and_the_old_one_goes_with_its_last_zone() {
    let f = Fixture::own_pool("tpl_boots");
    let img = image(&f);
    let zp_a = f.zonepath("a");
    let zp_b = f.zonepath("b");
    install_with_boot(&f, "boot-1", "a", &zp_a, &img);
    let second = install_with_boot(&f, "boot-1", "b", &zp_b, &img);
    assert!(
        second.contains("using template"),
        "same boot: reuse\n{second}"
    );
    assert_eq!(list_json(&f, "boot-1").len(), 1);

    // Reboot: a new template; the old one is stale and kept for its zones.
    let zp_c = f.zonepath("c");
    let third = install_with_boot(&f, "boot-2", "c", &zp_c, &img);
    assert!(third.contains("building template"), "{third}");
    let templates = list_json(&f, "boot-2");
    assert_eq!(templates.len(), 2, "{templates:?}");
    for t in &templates {
        for field in [
            "dataset",
            "snapshot",
            "boot_id",
            "baseline_sha256",
            "created",
            "referenced",
            "zones",
        ] {
            assert!(t.get(field).is_some(), "{field} missing in {t}");
        }
        assert!(t["current"].is_boolean() && t["clones"].is_array());
    }
    let old = templates.iter().find(|t| t["boot_id"] == "boot-1").unwrap();
    let new = templates.iter().find(|t| t["boot_id"] == "boot-2").unwrap();
    assert_eq!(old["current"], false);
    assert_eq!(old["state"], "stale");
    assert_eq!(new["current"], true);
    let zones: Vec<&str> = old["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_str().unwrap())
        .collect();
    assert_eq!(zones, vec!["a", "b"], "the zones needing reinstall");
    // Zones on the old template keep working.
    assert_eq!(std::fs::read(zp_a.join("root/opt/app")).unwrap(), b"app\n");

    // The human listing says which zones need reinstalling, in 100 columns.
    let out = f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-2")
        .args(["template", "list"])
        .output()
        .unwrap();
    let text = ok(&out);
    assert!(text.contains("needs reinstall: a b"), "{text}");
    assert!(text.lines().all(|l| l.len() <= 100), "{text}");

    // gc keeps it while cloned...
    let gc = |dry: bool| {
        let mut c = f.command();
        c.env("OMICRON1_BOOT_ID", "boot-2").args([
            "template",
            "gc",
            "--pool",
            f.dataset.pool().as_str(),
        ]);
        if dry {
            c.arg("--dry-run");
        }
        ok(&c.output().unwrap())
    };
    let old_ds = old["dataset"].as_str().unwrap().to_string();
    assert!(gc(false).contains(&format!(
        "kept {old_ds}: stale, but zones are cloned from it: a, b"
    )));
    // ...uninstalling one zone keeps it, uninstalling the last collects it.
    ok(&f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-2")
        .args(["-z", "a", "-R"])
        .arg(&zp_a)
        .arg("uninstall")
        .output()
        .unwrap());
    assert_eq!(list_json(&f, "boot-2").len(), 2);
    ok(&f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-2")
        .args(["-z", "b", "-R"])
        .arg(&zp_b)
        .arg("uninstall")
        .output()
        .unwrap());
    let left = list_json(&f, "boot-2");
    assert_eq!(
        left.len(),
        1,
        "the last zone took the stale template: {left:?}"
    );
    assert_eq!(left[0]["boot_id"], "boot-2");
    assert!(
        !gc(true).contains("would destroy"),
        "nothing left to collect"
    );
}

#[test]
fn gc_collects_an_unused_stale_template_and_a_new_build_collects_too() {
    let f = Fixture::own_pool("tpl_gc");
    let img = image(&f);
    let zp = f.zonepath("z");
    install_with_boot(&f, "boot-1", "z", &zp, &img);
    ok(&f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-1")
        .args(["-z", "z", "-R"])
        .arg(&zp)
        .arg("uninstall")
        .output()
        .unwrap());
    assert_eq!(
        list_json(&f, "boot-1").len(),
        1,
        "a current template stays after uninstall"
    );
    // gc in a later boot: dry run first, then for real.
    let dry = ok(&f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-2")
        .args([
            "template",
            "gc",
            "--dry-run",
            "--pool",
            f.dataset.pool().as_str(),
        ])
        .output()
        .unwrap());
    assert!(dry.contains("would destroy"), "{dry}");
    assert_eq!(
        list_json(&f, "boot-2").len(),
        1,
        "a dry run destroys nothing"
    );
    let pool = f.dataset.pool().to_string();
    let real = ok(&f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-2")
        .args(["template", "gc", "--pool", &pool])
        .output()
        .unwrap());
    assert!(real.contains("destroyed"), "{real}");
    assert!(list_json(&f, "boot-2").is_empty());

    // A build in a new boot collects the unused stale template beside it.
    let zp2 = f.zonepath("z2");
    install_with_boot(&f, "boot-3", "z2", &zp2, &img);
    ok(&f
        .command()
        .env("OMICRON1_BOOT_ID", "boot-3")
        .args(["-z", "z2", "-R"])
        .arg(&zp2)
        .arg("uninstall")
        .output()
        .unwrap());
    let zp3 = f.zonepath("z3");
    let out = install_with_boot(&f, "boot-4", "z3", &zp3, &img);
    assert!(out.contains("destroyed stale template"), "{out}");
    let left = list_json(&f, "boot-4");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["boot_id"], "boot-4");
}

#[test]
fn sixteen_parallel_installs_on_a_cold_pool_build_once() {
    let f = Fixture::own_pool("tpl_race16");
    let img = image(&f);
    let children: Vec<_> = (0..16)
        .map(|i| {
            let zone = format!("p{i}");
            let zp = f.zonepath(&zone);
            f.command()
                .arg("-z")
                .arg(&zone)
                .arg("-R")
                .arg(&zp)
                .args(["install", &img])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut builds = 0;
    let mut waited = 0;
    for child in children {
        let text = ok(&child.wait_with_output().unwrap());
        builds += text.matches("INFO: omicron: building template").count();
        waited += text
            .matches("INFO: omicron: waiting for another install")
            .count();
    }
    assert_eq!(builds, 1);
    assert!(waited >= 1, "the others said they were waiting");
    assert_eq!(list_json(&f, &f.boot_id).len(), 1);
    for i in 0..16 {
        let root = f.mountpoint.join(format!("zones/p{i}/root"));
        assert_eq!(
            std::fs::read(root.join("opt/app")).unwrap(),
            b"app\n",
            "zone p{i}"
        );
    }
}

#[test]
fn two_pools_get_a_template_each_without_waiting_for_each_other() {
    let f = Fixture::own_pool("tpl_pools");
    let img = image(&f);
    // A second pool, on a file of its own.
    omicron1_vm_tests::fixture::make_pool(&"tp2".parse().unwrap(), Path::new("/tmp/tp2"));
    let zfs = &f.zfs;
    let parent2: omicron1_zfs::DatasetName = "tp2/zones".parse().unwrap();
    zfs.create(&parent2, &Default::default()).unwrap();
    zfs.create(&parent2.child("y").unwrap(), &Default::default())
        .unwrap();
    let zp1 = f.zonepath("x");
    let zp2 = Path::new("/tmp/tp2/zones/y").to_path_buf();
    let install = |zone: &str, zp: &Path| {
        let mut c = f.command();
        c.arg("-z")
            .arg(zone)
            .arg("-R")
            .arg(zp)
            .args(["install", &img]);
        c
    };
    // x stops in the middle of building its pool's template, holding that
    // template's lock exclusively...
    let x = run_until(install("x", &zp1), "pruned", &f.dir, "x");
    // ...and y, on the other pool, builds its own and installs meanwhile,
    // never blocking on a lock (it would wait forever for the stopped x).
    let y = spawn(install("y", &zp2), &f.dir, "y").wait_never_blocking_on_a_lock();
    assert_eq!(y.code, Some(0), "{}", y.stderr);
    let x = x.resume();
    assert_eq!(x.code, Some(0), "{}", x.stderr);
    for out in [&x.stdout, &y.stdout] {
        assert!(
            out.contains("building template"),
            "each pool builds its own:\n{out}"
        );
        assert!(
            !out.contains("waiting for another install"),
            "pools do not wait for each other:\n{out}"
        );
    }
    let origin = zfs
        .get_value(
            (&parent2.child("y").unwrap().child("root").unwrap()).into(),
            "origin",
        )
        .unwrap();
    assert!(origin.unwrap().starts_with("tp2/zones/omicron1-templates/"));
    // Without --pool, every imported pool is listed.
    let listed = ok(&f
        .command()
        .args(["template", "list", "--json"])
        .output()
        .unwrap());
    assert!(
        listed.contains("tp2/zones/omicron1-templates/"),
        "tp2 is listed: {listed}"
    );
    assert!(
        listed.contains("tpl-pools/tpl_pools/zones/omicron1-templates/"),
        "{listed}"
    );
    let status = std::process::Command::new("/usr/sbin/zpool")
        .args(["destroy", "-f", "tp2"])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_killed_build_is_never_cloned_and_the_next_install_rebuilds() {
    let f = Fixture::own_pool("tpl_killed");
    let img = image(&f);
    let zp = f.zonepath("k");
    // Killed while replicating /usr: its second entry (`OMICRON1_STOP_AT`).
    let mut cmd = f.command();
    cmd.args(["-z", "k", "-R"]).arg(&zp).args(["install", &img]);
    let stopped = run_until(cmd, "replicate-entry#2", &f.dir, "k");
    assert!(stopped.stdout().contains("replicating /usr tree"));
    stopped.kill();
    let templates = list_json(&f, &f.boot_id);
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0]["state"], "unfinished");
    assert_eq!(templates[0]["ready"], false);
    assert!(
        !f.zfs.exists((&f.root_dataset("k")).into()).unwrap(),
        "nothing was cloned"
    );

    let out = ok(&f.hook("k", &zp, &["install", &img]));
    assert!(out.contains("destroying unfinished template"), "{out}");
    assert!(out.contains("building template"), "{out}");
    let templates = list_json(&f, &f.boot_id);
    assert_eq!(templates[0]["state"], "current");
    assert_eq!(
        std::fs::read(zp.join("root/etc/motd")).unwrap(),
        b"baseline motd\n"
    );
}

#[test]
fn template_build_makes_a_template_ahead_of_installs() {
    let f = Fixture::own_pool("tpl_build");
    let img = image(&f);
    let parent = format!("{}/zones", f.dataset);
    let pool = f.dataset.pool().to_string();
    let out = ok(&f
        .command()
        .args(["template", "build", "--pool", &pool, "--parent", &parent])
        .output()
        .unwrap());
    assert!(
        out.contains("building template") && out.contains("is ready"),
        "{out}"
    );
    // Again: already there. Without --parent: found from the existing templates.
    let pool = f.dataset.pool().to_string();
    let again = ok(&f
        .command()
        .args(["template", "build", "--pool", &pool])
        .output()
        .unwrap());
    assert!(
        again.contains(&format!("using template {}", f.templates())),
        "{again}"
    );
    let zp = f.zonepath("z");
    let install = ok(&f.hook("z", &zp, &["install", &img]));
    assert!(
        install.contains("using template") && !install.contains("building"),
        "{install}"
    );
    let bad = f
        .command()
        .args(["template", "build", "--pool", &pool, "--parent", "other/x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(253));
}

/// Remakes the fixture's baseline with `motd` as `etc/motd`, into `out`.
fn remake_baseline(f: &Fixture, motd: &str, out: &Path) {
    let root = f.dir.join("baseline-root");
    std::fs::write(root.join("etc/motd"), motd).unwrap();
    ok(&f
        .command()
        .args(["baseline", "create", "--root"])
        .arg(&root)
        .arg("--include")
        .arg(f.dir.join("baseline-include"))
        .arg("--gzonly")
        .arg(f.dir.join("baseline-gzonly"))
        .arg("--output")
        .arg(out)
        .output()
        .unwrap());
}

#[test]
fn a_changed_baseline_gets_a_new_template_in_the_same_boot() {
    use std::os::unix::fs::MetadataExt;
    let f = Fixture::own_pool("tpl_baseline");
    let img = image(&f);
    let origin = |zone: &str| {
        f.zfs
            .get_value((&f.root_dataset(zone)).into(), "origin")
            .unwrap()
            .unwrap()
    };
    let motd = |zp: &Path| std::fs::read_to_string(zp.join("root/etc/motd")).unwrap();
    let zp1 = f.zonepath("z1");
    ok(&f.hook("z1", &zp1, &["install", &img]));
    // Warm: the cached digest is used, the template reused.
    let zp2 = f.zonepath("z2");
    let out = ok(&f.hook("z2", &zp2, &["install", &img]));
    assert!(out.contains("using template"), "{out}");
    assert_eq!(origin("z2"), origin("z1"));

    // A baseline upgrade as `baseline create` writes it (a new file renamed
    // over the old one): the next install builds a new template from it.
    remake_baseline(&f, "second motd\n", &f.baseline_dir);
    let zp3 = f.zonepath("z3");
    let out = ok(&f.hook("z3", &zp3, &["install", &img]));
    assert!(out.contains("building template"), "{out}");
    assert_ne!(origin("z3"), origin("z1"), "a new template");
    assert_eq!(motd(&zp3), "second motd\n");
    assert_eq!(motd(&zp1), "baseline motd\n", "z1 keeps its template");
    let listed = list_json(&f, &f.boot_id);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let stale: Vec<_> = listed.iter().filter(|t| t["state"] == "stale").collect();
    assert_eq!(
        stale.len(),
        1,
        "the first baseline's template is stale: {listed:?}"
    );

    // The archive rewritten in place (same file, same inode, new content).
    let other = f.dir.join("baseline-3");
    remake_baseline(&f, "third motd\n", &other);
    let files = f.baseline_dir.join("files.tar.gz");
    let inode = std::fs::metadata(&files).unwrap().ino();
    std::fs::write(&files, std::fs::read(other.join("files.tar.gz")).unwrap()).unwrap();
    assert_eq!(
        std::fs::metadata(&files).unwrap().ino(),
        inode,
        "rewritten in place"
    );
    let zp4 = f.zonepath("z4");
    let out = ok(&f.hook("z4", &zp4, &["install", &img]));
    assert!(out.contains("building template"), "{out}");
    assert_eq!(motd(&zp4), "third motd\n");
    assert_ne!(origin("z4"), origin("z3"));
    // And that one is reused.
    let zp5 = f.zonepath("z5");
    let out = ok(&f.hook("z5", &zp5, &["install", &img]));
    assert!(
        out.contains("using template") && !out.contains("building"),
        "{out}"
    );
    assert_eq!(origin("z5"), origin("z4"));
}
