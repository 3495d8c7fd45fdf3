//! `install` reads the zone's configuration (`OMICRON1_ZONES_DIR/ZONE.xml`) to
//! check its delegated datasets before it makes anything. A broken one must
//! fail the install at once — exit 254, naming the file, no template built and
//! no zone root — and never hang or eat memory. (`verify_cfg` on the same
//! files is tested on the host, in `tests/zone_config.rs`.)

use std::time::{Duration, Instant};

use omicron1_vm_tests::fixture::{Entry, Fixture, Layer};
use omicron1_zfs::Zfs;

#[test]
fn install_refuses_a_broken_zone_configuration_before_making_anything() {
    let f = Fixture::new("zonecfg_install");
    let image = f.image_path("app");
    let mut l = Layer::layer(&image, "app");
    l.entries(&[Entry::File("opt/app", b"app\n", 0o644)]);
    l.finish();
    let image = image.to_str().unwrap();

    let quadratic = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE zone [<!ENTITY a \"{}\">]>\n\
         <zone name=\"c-entity\" brand=\"omicron1\" ip-type=\"exclusive\" autoboot=\"{}\"/>\n",
        "A".repeat(100_000),
        "&a;".repeat(20_000)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "c-unclosed",
            b"<zone name=\"c-unclosed\" brand=\"omicron1\" ip-type=\"exclusive\">".to_vec(),
            "malformed",
        ),
        ("c-empty", Vec::new(), "malformed"),
        (
            "c-not-a-zone",
            b"<profile name=\"c\"/>".to_vec(),
            "not <zone>",
        ),
        (
            "c-latin1",
            b"<zone name=\"caf\xe9\" ip-type=\"exclusive\"/>".to_vec(),
            "not UTF-8 text",
        ),
        (
            "c-dataset-without-name",
            b"<zone name=\"c\" brand=\"omicron1\" ip-type=\"exclusive\"><dataset/></zone>".to_vec(),
            "a <dataset> element has no name attribute",
        ),
        ("c-entity", quadratic.into_bytes(), "entity declarations"),
    ];
    for (zone, xml, want) in &cases {
        let zp = f.zonepath(zone);
        let file = f.zones_dir.join(format!("{zone}.xml"));
        std::fs::write(&file, xml).unwrap();
        let started = Instant::now();
        let out = f.hook(zone, &zp, &["install", image]);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{zone}: took {:?}",
            started.elapsed()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(254), "{zone}: {stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "{zone}: names the file: {stderr}"
        );
        assert!(stderr.contains(want), "{zone}: wanted {want:?}: {stderr}");
        assert!(!f.installed(zone), "{zone}: no zone root");
        assert!(
            !f.zfs.exists((&f.templates()).into()).unwrap(),
            "{zone}: not even a template"
        );
    }

    // An oversized file is refused without being read whole (1 GiB, sparse).
    let zp = f.zonepath("c-huge");
    let huge = f.zones_dir.join("c-huge.xml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let out = f.hook("c-huge", &zp, &["install", image]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("c-huge.xml is malformed: it is larger than"),
        "{stderr}"
    );

    // Fixed, the same zone installs.
    f.write_zone_config("c-unclosed", &f.mountpoint.join("zones/c-unclosed"), "");
    let out = f.hook(
        "c-unclosed",
        &f.mountpoint.join("zones/c-unclosed"),
        &["install", image],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(f.mountpoint.join("zones/c-unclosed/root/opt/app")).unwrap(),
        b"app\n"
    );
}
