//! Template lifecycle on real ZFS: once per boot and baseline, concurrent- and
//! crash-safe, per pool, listed, collected.

use std::io::BufRead;
use std::path::Path;
use std::process::{Output, Stdio};

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
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
    let spawn = |zone: &str, zp: &Path| {
        f.command()
            .arg("-z")
            .arg(zone)
            .arg("-R")
            .arg(zp)
            .args(["install", &img])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("x", &zp1), spawn("y", &zp2));
    let (out_a, out_b) = (
        ok(&a.wait_with_output().unwrap()),
        ok(&b.wait_with_output().unwrap()),
    );
    for out in [&out_a, &out_b] {
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
        .get_value((&parent2.child("y").unwrap()).into(), "origin")
        .unwrap();
    assert!(origin.unwrap().starts_with("tp2/omicron1-templates/"));
    // Without --pool, every imported pool is listed.
    let listed = ok(&f
        .command()
        .args(["template", "list", "--json"])
        .output()
        .unwrap());
    assert!(
        listed.contains("tp2/omicron1-templates/"),
        "tp2 is listed: {listed}"
    );
    assert!(
        listed.contains("tpl-pools/tpl_pools/omicron1-templates/"),
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
    let mut child = f
        .command()
        .arg("-z")
        .arg("k")
        .arg("-R")
        .arg(&zp)
        .args(["install", &img])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("replicating /usr tree") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let templates = list_json(&f, &f.boot_id);
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0]["state"], "unfinished");
    assert_eq!(templates[0]["ready"], false);
    assert!(!f.installed("k"), "nothing was cloned");

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
